"""Figures of growth-model estimands: expected course, recovery curves, therapists, risk."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes

from analyses.plots.data import (
    _axes,
    _band_lines,
    _finish_grouped,
    inside_scale,
    time_axis,
    units_of,
)

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
    """Plot expected score (or change) over sessions with its credible band, by group.

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

    Examples
    --------
    >>> from trajectories.estimands import expected_change
    >>> course = pd.concat([expected_change(small_fit, at_session=s) for s in (0, 2, 4, 8)])
    >>> ax = plot_expected_change(course)
    >>> len(ax.lines), ax.get_xlabel()  # Beat the Blues counts months
    (1, 'month (0 = intake)')
    """
    sel = table[table["quantity"] == quantity]
    if sel.empty:
        raise ValueError(f"quantity {quantity!r} not in the table")
    units = units_of(table)
    score = quantity == "expected_score"
    ax = _axes(ax)
    _band_lines(ax, sel, by, "mean", line_kws, units if score else None)
    if not score:
        ax.axhline(0.0, color="black", lw=0.8)
    what = {"expected_score": f"expected {units['score']} score",
            "change": f"expected change in {units['score']} from intake",
            "standardised_change": "standardised change from intake (intake SDs)"}
    return _finish_grouped(ax, by, what.get(quantity, quantity.replace("_", " "))
                           + f"\n(line: posterior mean; band: {_level(sel)} credible interval)",
                           units)


def _level(table: pd.DataFrame) -> str:
    """Return the interval level of an estimand table, as a percentage ("95%")."""
    prob = table.attrs.get("ci_prob", 0.95)
    return f"{100 * prob:g}%"


def plot_recovery_curves(
    curves: pd.DataFrame,
    *,
    ax: Axes | None = None,
    line_kws: dict[str, Any] | None = None,
) -> Axes:
    """Plot expected recovery curves by intake severity with the failure boundary (dashed).

    See Also
    --------
    trajectories.estimands.recovery_curves : Compute the curves (Finch, Lambert & Schaalje,
        2001).

    Examples
    --------
    >>> from trajectories.estimands import recovery_curves
    >>> ax = plot_recovery_curves(recovery_curves(small_fit, intake=[15, 25, 35]))
    >>> len(ax.lines) >= 3  # one curve per intake level, and the failure boundaries
    True
    """
    ax = _axes(ax)
    units = units_of(curves)
    band = curves.attrs.get("band", 0.8)
    groups = list(curves.groupby("intake", sort=True))
    for colour, (intake, g) in zip(sns.color_palette("flare", n_colors=len(groups)), groups,
                                   strict=True):
        kws = {"color": colour, "lw": 2.0} | (line_kws or {})
        ax.plot(g["session"], g["expected_score"], label=f"{intake:g}", **kws)
        ax.fill_between(g["session"], inside_scale(g["band_low"], units),
                        inside_scale(g["band_high"], units), color=colour, alpha=0.12, lw=0)
        ax.plot(g["session"], inside_scale(g["failure_boundary"], units), color=colour, lw=1.0,
                ls="--")
    time_axis(ax, units)
    ax.set_ylabel(f"expected {units['score']} score\n(band: central {100 * band:g}% of "
                  "patients; dashed: failure boundary)")
    if units["score_range"] is not None:
        ax.set_ylim(*units["score_range"])
    ax.legend(title=f"intake {units['score']}", frameon=False)
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

    Examples
    --------
    >>> from trajectories.estimands import therapist_effects
    >>> table = therapist_effects(clinic_fit, at_session=8)  # 5 therapists
    >>> ax = plot_therapist_effects(table)
    >>> len(ax.get_yticklabels())
    5
    """
    eff = table[table["quantity"] == "effect"].copy()
    if eff.empty:
        raise ValueError("the table has no 'effect' rows")
    rank = table[table["quantity"] == "rank"].set_index("therapist")["mean"]
    eff["rank"] = eff["therapist"].map(rank)
    eff = eff.sort_values("rank", kind="stable").reset_index(drop=True)
    ax = _axes(ax, (6.0, max(3.5, 1.0 + 0.22 * len(eff))))
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
    units = units_of(table)
    icc = table[table["quantity"] == "icc"]
    if len(icc):
        r = icc.iloc[0]
        ax.set_title(f"therapist share of variance (ICC) {r['mean']:.3f} "
                     f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]", fontsize="medium")
    ax.set_xlabel(f"therapist effect on the expected {units['score']} score at "
                  f"{units['time']} {session:g}\n(points: posterior means; bars: "
                  f"{_level(table)} credible intervals)")
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

    Examples
    --------
    >>> from trajectories.estimands import deterioration_risk
    >>> ax = plot_deterioration_risk(deterioration_risk(small_fit, by_session=8))
    >>> len(ax.patches) > 0
    True
    """
    ax = _axes(ax)
    kws = {"bins": np.linspace(0, 1, 21), "color": "#4c72b0", "edgecolor": "white"} | (
        hist_kws or {})
    ax.hist(risk[column].to_numpy(), **kws)
    ax.set_xlim(0, 1)
    what = {"p_deteriorated": "probability of reliable deterioration",
            "p_failure": "probability of ending without reliable improvement",
            "p_dropout": "probability of dropping out"}
    ax.set_xlabel(what.get(column, column.replace("_", " ")) + " (posterior)")
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

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> risk = rng.uniform(size=500)
    >>> ax = plot_risk_calibration(risk, rng.uniform(size=500) < risk)  # calibrated by design
    >>> ax.get_xlabel()
    'predicted risk (mean of each of 10 risk groups)'
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
    ax.set_xlabel(f"predicted risk (mean of each of {len(frame)} risk groups)")
    ax.set_ylabel("observed rate (95% binomial interval)")
    return ax
