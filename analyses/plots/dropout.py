"""Figures of the dropout analyses: tipping point, competing endings, risk calibration.

Each function takes the tidy table of its compute function and returns the Axes; the
calibration of predicted dropout risk uses :func:`analyses.plots.models.
plot_risk_calibration` (predicted against observed) as it is.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from analyses.plots.data import _axes, _coloured_groups

__all__ = ["plot_cumulative_incidence", "plot_tipping_point"]


def plot_tipping_point(
    table: pd.DataFrame,
    *,
    estimand: str = "contrast",
    tipping: pd.DataFrame | None = None,
    ax: Axes | None = None,
    line_kws: dict[str, Any] | None = None,
) -> Axes:
    """Plot the estimand and its credible band as the dropouts' imputed scores are shifted.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`trajectories.sensitivity.delta_adjusted` output.
    estimand : {"contrast", "change"}
        Which rows to draw (one line per arm or contrast).
    tipping : pandas.DataFrame, optional
        :func:`trajectories.sensitivity.tipping_point` output: each tipping point is marked
        with a dotted vertical line and its value.
    ax : matplotlib Axes, optional
        Panel to draw into.
    line_kws : dict, optional
        Passed to ``Axes.plot`` for the lines of posterior means.

    See Also
    --------
    trajectories.sensitivity.delta_adjusted : Compute the table.

    Examples
    --------
    >>> rows = [{"estimand": "contrast", "arm": "B - A", "delta": d, "delta_points": d,
    ...          "mean": -3 + 0.5 * d, "ci_low": -5 + 0.5 * d, "ci_high": -1 + 0.5 * d}
    ...         for d in range(5)]
    >>> ax = plot_tipping_point(pd.DataFrame(rows))
    >>> ax.get_xlabel().endswith("(score points)")
    True
    """
    sel = table[table["estimand"] == estimand]
    if sel.empty:
        raise ValueError(f"estimand {estimand!r} not in the table (it has "
                         f"{sorted(table['estimand'].unique())})")
    ax = _axes(ax)
    for colour, arm, g in _coloured_groups(sel, "arm"):
        g = g.sort_values("delta")
        kws = {"color": colour, "lw": 1.8} | (line_kws or {})
        ax.plot(g["delta"], g["mean"], label=str(arm), **kws)
        ax.fill_between(g["delta"], g["ci_low"], g["ci_high"], color=colour, alpha=0.2, lw=0)
        if tipping is not None:
            hit = tipping[(tipping["estimand"] == estimand) & (tipping["arm"] == arm)]
            if len(hit) and np.isfinite(hit["tipping_delta"].iloc[0]):
                x = float(hit["tipping_delta"].iloc[0])
                ax.axvline(x, color=colour, ls=":", lw=1.2)
                ax.annotate(f"tipping point {x:.2g}", (x, ax.get_ylim()[1]), color=colour,
                            ha="left", va="top", fontsize=8, xytext=(3, -3),
                            textcoords="offset points")
    ax.axhline(0.0, color="black", lw=0.8)
    unit = table.attrs.get("scale", "points")
    ax.set_xlabel("shift of the dropouts' imputed scores "
                  f"({'score points' if unit == 'points' else 'SD of intake scores'})")
    prob = table.attrs.get("prob")
    band = f"{prob:.0%} credible band" if prob else "credible band"
    what = "difference in change" if estimand == "contrast" else "change from intake"
    at = table.attrs.get("at_session")
    ax.set_ylabel(f"{what}{f' at session {at:g}' if at is not None else ''} ({band})")
    ax.legend(frameon=False)
    return ax


def plot_cumulative_incidence(
    table: pd.DataFrame,
    *,
    stacked: bool = False,
    ax: Axes | None = None,
    line_kws: dict[str, Any] | None = None,
) -> Axes:
    """Cumulative incidence of each ending, and the share still in treatment, by session.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`trajectories.competing.cumulative_incidence` output.
    stacked : bool
        Stack the posterior means (they sum to one at every session) instead of drawing
        each curve with its credible band.
    ax : matplotlib Axes, optional
        Panel to draw into.
    line_kws : dict, optional
        Passed to ``Axes.plot`` (lines) or ``Axes.stackplot`` (stacked).

    See Also
    --------
    trajectories.competing.cumulative_incidence : Compute the table.

    Examples
    --------
    >>> rows = [{"session": s, "ending": e, "mean": m, "ci_low": m, "ci_high": m}
    ...         for s in range(3) for e, m in (("dropout", 0.1 * s), ("in treatment",
    ...                                                                  1 - 0.1 * s))]
    >>> len(plot_cumulative_incidence(pd.DataFrame(rows)).get_lines())
    2
    """
    ax = _axes(ax)
    wide = table.pivot(index="session", columns="ending", values="mean")
    order = [e for e in pd.unique(table["ending"])]
    if stacked:
        ax.stackplot(wide.index, *[wide[e] for e in order], labels=order, alpha=0.8,
                     **(line_kws or {}))
        ax.set_ylim(0, 1)
    else:
        for colour, ending, g in _coloured_groups(table, "ending"):
            g = g.sort_values("session")
            kws = {"color": colour, "marker": "o", "lw": 1.8} | (line_kws or {})
            if ending == "in treatment":
                kws |= {"ls": "--"}
            ax.plot(g["session"], g["mean"], label=str(ending), **kws)
            ax.fill_between(g["session"], g["ci_low"], g["ci_high"], color=colour,
                            alpha=0.2, lw=0)
    ax.set_xlabel("session")
    ax.set_ylabel("probability (cumulative incidence)")
    ax.legend(title="ending by then", frameon=False)
    return ax
