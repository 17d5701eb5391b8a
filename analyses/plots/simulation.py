"""Figures of simulated clinics: policy comparisons (study figures: analyses.plots.study)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes

from analyses.plots.data import _axes

__all__ = ["plot_policy_differences", "plot_policy_rates"]


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

    Examples
    --------
    >>> table = policy_table  # tau and feedback in a tiny clinic (a doctest fixture)
    >>> ax = plot_policy_rates(table, outcomes=["deteriorated", "dropout"])
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['tau', 'feedback']
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

    Examples
    --------
    >>> table = policy_table  # tau and feedback in a tiny clinic (a doctest fixture)
    >>> ax = plot_policy_differences(table, outcomes=["deteriorated", "dropout"])
    >>> ax.get_xlabel()
    'difference to TAU, percentage points (all)'
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
