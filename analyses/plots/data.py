"""Figures of observed data: trajectories, clinical significance, retention and dropout hazard."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from trajectories.clinical import CATEGORIES
from trajectories.data import TherapyData

__all__ = ["inside_scale", "plot_clinical_significance", "plot_dropout_hazard",
           "plot_retention", "plot_trajectories", "time_axis", "units_of"]

#: Colours of the Jacobson–Truax categories, from good to bad.
CATEGORY_COLOURS = dict(zip(CATEGORIES, ["#1b7837", "#a6dba0", "#bdbdbd", "#b2182b"],
                            strict=True))


def _axes(ax: Axes | None, size: tuple[float, float] = (6.0, 4.0)) -> Axes:
    return ax if ax is not None else plt.subplots(figsize=size)[1]


def units_of(table: pd.DataFrame | TherapyData) -> dict[str, Any]:
    """Return the scale a table was computed on, with plain defaults for a table without it.

    The scale is ``attrs["units"]`` of estimand and retention tables (:meth:`TherapyData.units`).

    Examples
    --------
    >>> units_of(pd.DataFrame())["time"]
    'session'
    """
    given = table.units() if isinstance(table, TherapyData) else table.attrs.get("units", {})
    return {"score": "score", "score_range": None, "higher_is_worse": True,
            "time": "session"} | dict(given)


def inside_scale(values: Any, units: dict[str, Any]) -> Any:
    """Values clipped to the instrument's score range (bands never leave the scale).

    Examples
    --------
    >>> inside_scale(np.array([-3.0, 10.0, 70.0]), {"score_range": (0.0, 63.0)}).tolist()
    [0.0, 10.0, 63.0]
    >>> inside_scale(np.array([-3.0]), {}).tolist()  # no instrument: unchanged
    [-3.0]
    """
    limits = units.get("score_range")
    return values if limits is None else np.clip(values, *limits)


def _rows(table: pd.DataFrame, column: str, value: Any, where: str = "the table",
          ) -> pd.DataFrame:
    """Select the rows whose ``column`` is ``value``; if none, say which values it has."""
    sel = table[table[column] == value]
    if sel.empty:
        raise ValueError(f"{column} {value!r} not in {where} "
                         f"(has {sorted(table[column].unique())})")
    return sel


def _coloured_groups(table: pd.DataFrame, by: str | None) -> list[tuple[Any, Any, pd.DataFrame]]:
    """(colour, key, rows) per group in order of appearance; one group when ``by`` is None."""
    groups = [(None, table)] if by is None else list(table.groupby(by, sort=False))
    palette = sns.color_palette(n_colors=max(len(groups), 1))
    return [(colour, key, g) for colour, (key, g) in zip(palette, groups, strict=True)]


def _band_lines(ax: Axes, table: pd.DataFrame, by: str | None, y: str,
                line_kws: dict[str, Any] | None, units: dict[str, Any] | None = None) -> None:
    """Draw one line of ``y`` over sessions per group, with its ``ci_low``-``ci_high`` band.

    The band is clipped to the instrument's score range when ``units`` are given (a score band).
    """
    for colour, key, g in _coloured_groups(table, by):
        g = g.sort_values("session")
        kws = {"color": colour, "marker": "o", "lw": 1.8} | (line_kws or {})
        ax.plot(g["session"], g[y], label=None if key is None else str(key), **kws)
        low, high = g["ci_low"], g["ci_high"]
        if units is not None:
            low, high = inside_scale(low, units), inside_scale(high, units)
        ax.fill_between(g["session"], low, high, color=colour, alpha=0.2, lw=0)


def time_axis(ax: Axes, units: dict[str, Any]) -> None:
    """Label the x axis with the time unit; whole-number ticks (sessions are whole).

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> time_axis(ax, {"time": "week"})
    >>> ax.get_xlabel()
    'week (0 = intake)'
    """
    ax.set_xlabel(f"{units['time']} (0 = intake)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _finish_grouped(ax: Axes, by: str | None, ylabel: str, units: dict[str, Any]) -> Axes:
    time_axis(ax, units)
    ax.set_ylabel(ylabel)
    if by is not None:
        ax.legend(title=by, frameon=False)
    return ax


def plot_trajectories(
    data: TherapyData,
    *,
    n_patients: int = 30,
    seed: int = 0,
    curve: pd.DataFrame | None = None,
    flags: pd.DataFrame | None = None,
    ax: Axes | None = None,
    line_kws: dict[str, Any] | None = None,
) -> Axes:
    """Spaghetti plot of observed scores, with an expected curve and flagged sessions.

    Parameters
    ----------
    data : TherapyData
    n_patients : int
        Patients drawn at random (seeded) so that the plot stays readable.
    seed : int
        Seed of that draw.
    curve : pandas.DataFrame, optional
        Expected course with columns ``session``, ``expected`` and optionally ``lower`` and
        ``upper`` (e.g. a failure boundary from a recovery curve), drawn in black.
    flags : pandas.DataFrame, optional
        Sessions to mark (columns ``patient`` and ``session``), e.g. not-on-track alerts or
        reliable deterioration from
        :func:`trajectories.clinical.reliable_deterioration_flags` filtered to flagged rows.
    ax : matplotlib.axes.Axes, optional
    line_kws : dict, optional
        Passed to :meth:`Axes.plot` for the patient lines.

    Returns
    -------
    matplotlib.axes.Axes

    See Also
    --------
    trajectories.clinical.reliable_deterioration_flags : Flags to mark.

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> ax = plot_trajectories(load_beat_the_blues(), n_patients=10)
    >>> len(ax.lines)
    10
    """
    ax = _axes(ax)
    frame = data.frame
    rng = np.random.default_rng(seed)
    ids = data.patients
    chosen = rng.choice(ids, size=min(n_patients, len(ids)), replace=False)
    shown = frame[frame["patient"].isin(set(chosen.tolist()))]
    kws = {"color": "#4c72b0", "alpha": 0.45, "lw": 1.0} | (line_kws or {})
    for _, g in shown.groupby("patient", sort=True):
        ax.plot(g["session"], g["score"], **kws)
    if flags is not None and len(flags):
        marked = shown.merge(flags[["patient", "session"]], on=["patient", "session"])
        ax.scatter(marked["session"], marked["score"], color="#c44e52", zorder=3, s=22,
                   label="flagged session")
    if curve is not None:
        ax.plot(curve["session"], curve["expected"], color="black", lw=2.2, label="expected")
        for col in ("lower", "upper"):
            if col in curve:
                ax.plot(curve["session"], curve[col], color="black", lw=1.2, ls="--")
    time_axis(ax, units_of(data))
    ax.set_ylabel(f"{data.score_label} score "
                  f"({'higher = worse' if data.higher_is_worse else 'higher = better'})")
    if data.instrument is not None:
        ax.set_ylim(data.instrument.min_score, data.instrument.max_score)
    ax.set_title(f"{len(chosen)} of {len(ids)} patients")
    if curve is not None or (flags is not None and len(flags)):
        ax.legend(frameon=False)
    return ax


def plot_clinical_significance(
    summary: pd.DataFrame,
    *,
    by: str | None = None,
    ax: Axes | None = None,
    bar_kws: dict[str, Any] | None = None,
) -> Axes:
    """Stacked bars of Jacobson–Truax categories (percent of patients), overall or by group.

    Parameters
    ----------
    summary : pandas.DataFrame
        Output of :func:`trajectories.clinical.summarize_clinical_significance`.
    by : str, optional
        The grouping column used there (one bar per group).

    See Also
    --------
    trajectories.clinical.summarize_clinical_significance : Compute the table.

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> from trajectories.clinical import clinical_significance, summarize_clinical_significance
    >>> s = summarize_clinical_significance(clinical_significance(load_beat_the_blues()),
    ...                                     by="end_status")
    >>> ax = plot_clinical_significance(s, by="end_status")
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['completed', 'dropout']
    """
    ax = _axes(ax, (6.0, 0.6 + 0.55 * (summary[by].nunique() if by else 1)))
    wide = summary.pivot_table(index=by, columns="category", values="percent",
                               observed=False) if by else \
        summary.set_index("category")[["percent"]].T.rename(index={"percent": "all"})
    wide = wide.reindex(columns=list(CATEGORIES)).fillna(0.0)
    left = np.zeros(len(wide))
    labels = [str(i) for i in wide.index]
    for cat in CATEGORIES:
        ax.barh(labels, wide[cat], left=left, color=CATEGORY_COLOURS[cat], label=cat,
                **(bar_kws or {}))
        left += wide[cat].to_numpy()
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of patients")
    ax.set_ylabel(by.replace("_", " ") if by else "all patients")
    ax.legend(ncols=4, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.25 if by
              else -0.6), fontsize="small")
    return ax


def plot_retention(
    table: pd.DataFrame,
    *,
    by: str | None = None,
    ax: Axes | None = None,
    line_kws: dict[str, Any] | None = None,
) -> Axes:
    """Kaplan–Meier retention (share still in treatment after each session) with its band.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`trajectories.retention.retention_curve` (``by`` as used there).

    See Also
    --------
    trajectories.retention.retention_curve : Compute the table.

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> from trajectories.retention import retention_curve
    >>> ax = plot_retention(retention_curve(load_beat_the_blues(), by="treatment"),
    ...                     by="treatment")
    >>> len(ax.lines), tuple(float(v) for v in ax.get_ylim())
    (2, (0.0, 1.02))
    """
    ax = _axes(ax)
    for colour, key, g in _coloured_groups(table, by):
        kws = {"color": colour, "where": "post", "lw": 1.8} | (line_kws or {})
        ax.step(g["session"], g["retained"], label=None if key is None else str(key), **kws)
        ax.fill_between(g["session"], g["retained_low"], g["retained_high"], step="post",
                        color=colour, alpha=0.15, lw=0)
    ax.set_ylim(0.0, 1.02)
    return _finish_grouped(ax, by, "share still in treatment (Kaplan–Meier, 95% band)",
                           units_of(table))


def plot_dropout_hazard(
    table: pd.DataFrame,
    *,
    by: str | None = None,
    ax: Axes | None = None,
    line_kws: dict[str, Any] | None = None,
) -> Axes:
    """Empirical dropout hazard: the share of patients at risk who leave after each session.

    See Also
    --------
    trajectories.retention.retention_curve : Compute the table (column ``hazard``).

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> from trajectories.retention import retention_curve
    >>> ax = plot_dropout_hazard(retention_curve(load_beat_the_blues()))
    >>> ax.get_ylabel()
    'dropout hazard'
    """
    ax = _axes(ax)
    for colour, key, g in _coloured_groups(table, by):
        kws = {"color": colour, "marker": "o", "lw": 1.5} | (line_kws or {})
        ax.plot(g["session"], g["hazard"], label=None if key is None else str(key), **kws)
    ax.set_ylim(bottom=0)
    return _finish_grouped(ax, by, "dropout hazard", units_of(table))
