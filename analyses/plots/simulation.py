"""Figures of simulated clinics and simulation studies: policy comparisons, performance."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes

from analyses.plots.data import _axes

__all__ = ["plot_policy_differences", "plot_policy_rates", "plot_sbc_ranks",
           "plot_study_performance"]

_Z95 = 1.959963984540054


def _select(table: pd.DataFrame, subgroup: str, outcomes: list[str] | None) -> pd.DataFrame:
    sel = table[table["subgroup"] == subgroup]
    if sel.empty:
        raise ValueError(f"subgroup {subgroup!r} not in the table "
                         f"(has {sorted(table['subgroup'].unique())})")
    if outcomes is not None:
        missing = set(outcomes) - set(sel["outcome"])
        if missing:
            raise ValueError(f"outcomes {sorted(missing)} not in the table")
        sel = sel[sel["outcome"].isin(outcomes)]
    return sel


def _dodged(ax: Axes, sel: pd.DataFrame, value: str, low: str, high: str) -> None:
    policies = list(dict.fromkeys(sel["policy"]))
    outcomes = list(dict.fromkeys(sel["outcome"]))
    palette = sns.color_palette(n_colors=len(outcomes))
    width = 0.7 / max(len(outcomes), 1)
    for j, (outcome, colour) in enumerate(zip(outcomes, palette, strict=True)):
        g = sel[sel["outcome"] == outcome].set_index("policy").reindex(policies)
        y = np.arange(len(policies)) + (j - (len(outcomes) - 1) / 2) * width
        ax.errorbar(100 * g[value], y, xerr=100 * np.vstack([g[value] - g[low],
                                                             g[high] - g[value]]),
                    fmt="o", color=colour, capsize=2.5, label=outcome)
    ax.set_yticks(np.arange(len(policies)), policies)
    ax.set_ylabel("policy")
    ax.invert_yaxis()
    ax.legend(frameon=False, fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))


def plot_policy_rates(
    table: pd.DataFrame,
    *,
    subgroup: str = "all",
    outcomes: list[str] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Outcome rates by policy with 95% intervals (one colour per outcome).

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`simulations.clinic.compare.compare_policies`.
    subgroup : str
        ``"all"`` patients or the not-on-track subgroup ``"NOT"``.
    outcomes : list of str, optional
        Outcomes to show (default: all in the table).

    See Also
    --------
    simulations.clinic.compare.compare_policies : Compute the table.
    plot_policy_differences : Paired differences to treatment as usual.
    """
    sel = _select(table, subgroup, outcomes)
    ax = _axes(ax, (6.5, 1.2 + 0.5 * sel["policy"].nunique()))
    _dodged(ax, sel, "rate", "ci_low", "ci_high")
    ax.set_xlabel(f"% of patients ({subgroup})")
    ax.set_xlim(left=0)
    return ax


def plot_policy_differences(
    table: pd.DataFrame,
    *,
    subgroup: str = "all",
    outcomes: list[str] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Paired differences to treatment as usual (percentage points) with 95% intervals.

    See Also
    --------
    simulations.clinic.compare.compare_policies : Compute the table (common random numbers).
    plot_policy_rates : The rates themselves.
    """
    sel = _select(table, subgroup, outcomes)
    sel = sel[sel["policy"] != "tau"]
    if sel.empty:
        raise ValueError("the table has no policy other than 'tau' to compare")
    ax = _axes(ax, (6.5, 1.2 + 0.5 * sel["policy"].nunique()))
    _dodged(ax, sel, "diff_vs_tau", "diff_ci_low", "diff_ci_high")
    ax.axvline(0.0, color="black", lw=0.8)
    ax.set_xlabel(f"difference to TAU, percentage points ({subgroup})")
    return ax


def plot_study_performance(
    summary: pd.DataFrame,
    *,
    metric: str,
    x: str,
    hue: str = "method",
    reference: float | None = None,
    ax: Axes | None = None,
    errorbar_kws: dict[str, Any] | None = None,
) -> Axes:
    """A performance measure across conditions with ±1.96 Monte Carlo SE bars.

    Parameters
    ----------
    summary : pandas.DataFrame
        Performance table (``metric``, ``value``, ``mcse`` and the factor columns), e.g. from
        ``StudyResults.summarise``; filter it to one estimand first.
    metric : str
        Which measure to show, e.g. ``"bias"``, ``"coverage"``, ``"power"``.
    x : str
        Factor on the x axis.
    hue : str
        Column distinguishing lines (default ``method``).
    reference : float, optional
        Target line (0 for bias, the nominal level for coverage).

    See Also
    --------
    simulations.study.metrics : Compute the performance measures and their MCSEs.
    """
    sel = summary[summary["metric"] == metric]
    if sel.empty:
        raise ValueError(f"metric {metric!r} not in the summary "
                         f"(has {sorted(summary['metric'].unique())})")
    if sel.duplicated([x, hue]).any():
        raise ValueError(f"several rows per ({x}, {hue}) for {metric!r}: filter the summary "
                         "to one estimand and fix the other factors first")
    ax = _axes(ax)
    keys = list(dict.fromkeys(sel[hue]))
    for colour, key in zip(sns.color_palette(n_colors=len(keys)), keys, strict=True):
        g = sel[sel[hue] == key].sort_values(x)
        kws = {"fmt": "-o", "capsize": 3, "color": colour} | (errorbar_kws or {})
        ax.errorbar(g[x].astype(str) if g[x].dtype == object else g[x], g["value"],
                    yerr=_Z95 * g["mcse"], label=str(key), **kws)
    if reference is not None:
        ax.axhline(reference, color="black", lw=0.8, ls="--")
    ax.set_xlabel(x)
    ax.set_ylabel(f"{metric} (±1.96 MCSE)")
    ax.legend(title=hue, frameon=False)
    return ax


def plot_sbc_ranks(
    histogram: pd.DataFrame,
    *,
    parameter: str,
    ax: Axes | None = None,
    bar_kws: dict[str, Any] | None = None,
) -> Axes:
    """SBC rank histogram of one parameter with the band a uniform histogram stays in.

    Bars outside the grey band (a 99% binomial band per bin by default) point at a
    miscalibrated posterior: a U shape is over-confidence, a hump under-confidence, a slope
    bias (Talts et al., 2018).

    Parameters
    ----------
    histogram : pandas.DataFrame
        Output of :func:`simulations.tasks.sbc.sbc_histogram`.
    parameter : str
        Which parameter to draw.

    See Also
    --------
    simulations.tasks.sbc.sbc_histogram : Compute the table.
    simulations.tasks.sbc.sbc_uniformity : The matching chi-square test.
    """
    h = histogram[histogram["parameter"] == parameter]
    if h.empty:
        raise ValueError(f"parameter {parameter!r} not in the histogram "
                         f"(has {sorted(histogram['parameter'].unique())})")
    ax = _axes(ax, (4.5, 3.0))
    centre = (h["rank_low"] + h["rank_high"]) / 2.0
    width = (h["rank_high"] - h["rank_low"] + 1).to_numpy()
    ax.fill_between(np.r_[h["rank_low"].iloc[0], h["rank_high"].to_numpy() + 1],
                    np.r_[h["band_low"].iloc[0], h["band_low"].to_numpy()],
                    np.r_[h["band_high"].iloc[0], h["band_high"].to_numpy()],
                    step="pre", color="0.85", lw=0)
    kws = {"color": "#4c72b0", "edgecolor": "white"} | (bar_kws or {})
    ax.bar(centre + 0.5, h["count"], width=width, **kws)
    ax.axhline(float(h["expected"].mean()), color="black", lw=0.8, ls="--")
    ax.set_xlabel("rank of the true value among posterior draws")
    ax.set_ylabel("replications")
    ax.set_title(parameter)
    return ax
