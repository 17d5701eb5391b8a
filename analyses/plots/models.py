"""Figures of growth-model estimands: expected course, recovery curves, therapists, risk."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes

from analyses.plots.data import _axes, _band_lines, _finish_grouped

__all__ = ["plot_deterioration_risk", "plot_expected_change", "plot_recovery_curves",
           "plot_risk_calibration", "plot_therapist_effects"]


def plot_expected_change(
    table: pd.DataFrame,
    *,
    quantity: str = "expected_score",
    by: str | None = None,
    ax: Axes | None = None,
    line_kws: dict[str, Any] | None = None,
) -> Axes:
    """Expected score (or change) over sessions with its credible band, by group.

    Parameters
    ----------
    table : pandas.DataFrame
        Rows of :func:`trajectories.estimands.expected_change`, one call per session
        concatenated (columns ``session``, ``quantity``, ``mean``, ``ci_low``, ``ci_high``).
    quantity : str
        ``expected_score``, ``change`` or ``standardised_change``.
    by : str, optional
        A column that splits lines (e.g. ``therapist``, or a column you added such as an arm).

    See Also
    --------
    trajectories.estimands.expected_change : Compute the table.
    """
    sel = table[table["quantity"] == quantity]
    if sel.empty:
        raise ValueError(f"quantity {quantity!r} not in the table")
    ax = _axes(ax)
    _band_lines(ax, sel, by, "mean", line_kws)
    if quantity != "expected_score":
        ax.axhline(0.0, color="black", lw=0.8)
    return _finish_grouped(ax, by, quantity.replace("_", " ") + " (95% credible band)")


def plot_recovery_curves(
    curves: pd.DataFrame,
    *,
    ax: Axes | None = None,
    line_kws: dict[str, Any] | None = None,
) -> Axes:
    """Expected recovery curves by intake severity with the failure boundary (dashed).

    See Also
    --------
    trajectories.estimands.recovery_curves : Compute the curves (Finch, Lambert & Schaalje,
        2001).
    """
    ax = _axes(ax)
    groups = list(curves.groupby("intake", sort=True))
    for colour, (intake, g) in zip(sns.color_palette("flare", n_colors=len(groups)), groups,
                                   strict=True):
        kws = {"color": colour, "lw": 2.0} | (line_kws or {})
        ax.plot(g["session"], g["expected_score"], label=f"{intake:g}", **kws)
        ax.fill_between(g["session"], g["band_low"], g["band_high"], color=colour, alpha=0.12,
                        lw=0)
        ax.plot(g["session"], g["failure_boundary"], color=colour, lw=1.0, ls="--")
    ax.set_xlabel("session")
    ax.set_ylabel("expected score (band: predictive; dashed: failure boundary)")
    ax.legend(title="intake score", frameon=False)
    return ax


def plot_therapist_effects(
    table: pd.DataFrame,
    *,
    raw: pd.DataFrame | None = None,
    ax: Axes | None = None,
    errorbar_kws: dict[str, Any] | None = None,
) -> Axes:
    """Caterpillar plot of therapist effects with 95% intervals, best mean rank at the top.

    The title gives the therapist share of outcome variance (ICC) with its interval.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`trajectories.estimands.therapist_effects` (rows ``effect``).
    raw : pandas.DataFrame, optional
        Unpooled deviations (columns ``therapist``, ``raw_effect``), drawn as open circles
        so that the shrinkage towards zero is visible.

    See Also
    --------
    trajectories.estimands.therapist_effects : Compute the table.
    """
    eff = table[table["quantity"] == "effect"].copy()
    if eff.empty:
        raise ValueError("the table has no 'effect' rows")
    rank = table[table["quantity"] == "rank"].set_index("therapist")["mean"]
    eff["rank"] = eff["therapist"].map(rank)
    eff = eff.sort_values("rank", kind="stable").reset_index(drop=True)
    ax = _axes(ax, (6.0, 1.0 + 0.22 * len(eff)))
    y = np.arange(len(eff))
    kws = {"fmt": "o", "color": "#4c72b0", "capsize": 0, "ms": 4} | (errorbar_kws or {})
    ax.errorbar(eff["mean"], y, xerr=np.vstack([eff["mean"] - eff["ci_low"],
                                                eff["ci_high"] - eff["mean"]]),
                label="posterior (shrunken)", **kws)
    if raw is not None:
        r = eff[["therapist"]].merge(raw, on="therapist", how="left")
        ax.scatter(r["raw_effect"], y, facecolors="none", edgecolors="#c44e52", s=24, zorder=3,
                   label="unpooled")
        ax.legend(frameon=False, fontsize="small")
    ax.axvline(0.0, color="black", lw=0.8)
    ax.set_yticks(y, [str(t) for t in eff["therapist"]], fontsize="small")
    ax.invert_yaxis()
    session = eff["session"].iloc[0]
    icc = table[table["quantity"] == "icc"]
    if len(icc):
        r = icc.iloc[0]
        ax.set_title(f"therapist share of variance (ICC) {r['mean']:.3f} "
                     f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]", fontsize="medium")
    ax.set_xlabel(f"therapist effect on the expected score at session {session:g}")
    ax.set_ylabel("therapist (by posterior mean rank, best first)")
    return ax


def plot_deterioration_risk(
    risk: pd.DataFrame,
    *,
    column: str = "p_deteriorated",
    ax: Axes | None = None,
    hist_kws: dict[str, Any] | None = None,
) -> Axes:
    """Distribution of patients' risk probabilities (deterioration, failure or dropout).

    See Also
    --------
    trajectories.estimands.deterioration_risk : Compute ``p_deteriorated``.
    trajectories.predict.predict : Compute ``p_failure`` from the first sessions.
    """
    ax = _axes(ax)
    kws = {"bins": np.linspace(0, 1, 21), "color": "#4c72b0", "edgecolor": "white"} | (
        hist_kws or {})
    ax.hist(risk[column].to_numpy(), **kws)
    ax.set_xlim(0, 1)
    ax.set_xlabel(column.replace("_", " "))
    ax.set_ylabel("patients")
    return ax


def plot_risk_calibration(
    predicted: np.ndarray | pd.Series,
    observed: np.ndarray | pd.Series,
    *,
    bins: int = 10,
    ax: Axes | None = None,
) -> Axes:
    """Calibration curve: mean predicted risk against the observed rate, by risk decile.

    Points near the diagonal mean the risks can be taken at face value. Each point's
    vertical bar is a 95% binomial interval.

    See Also
    --------
    trajectories.predict.predict : Predicted failure risk from the first sessions.
    """
    p = np.asarray(predicted, dtype=float)
    y = np.asarray(observed, dtype=float)
    if p.shape != y.shape:
        raise ValueError("predicted and observed must have the same length")
    edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1)))
    group = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, len(edges) - 2)
    frame = pd.DataFrame({"g": group, "p": p, "y": y}).groupby("g").agg(
        p=("p", "mean"), y=("y", "mean"), n=("y", "size"))
    se = np.sqrt(frame["y"] * (1 - frame["y"]) / frame["n"])
    ax = _axes(ax, (4.5, 4.5))
    ax.plot([0, 1], [0, 1], color="black", lw=0.8, ls="--")
    ax.errorbar(frame["p"], frame["y"], yerr=1.96 * se, fmt="o", color="#4c72b0", capsize=2)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("predicted risk")
    ax.set_ylabel("observed rate")
    return ax
