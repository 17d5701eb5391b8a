"""Figures of observed data: trajectories, clinical significance, retention and dropout hazard."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes

from trajectories.clinical import CATEGORIES
from trajectories.data import TherapyData

__all__ = ["plot_clinical_significance", "plot_dropout_hazard", "plot_retention",
           "plot_trajectories"]

#: Colours of the Jacobson–Truax categories, from good to bad.
CATEGORY_COLOURS = dict(zip(CATEGORIES, ["#1b7837", "#a6dba0", "#bdbdbd", "#b2182b"],
                            strict=True))


def _axes(ax: Axes | None, size: tuple[float, float] = (6.0, 4.0)) -> Axes:
    return ax if ax is not None else plt.subplots(figsize=size)[1]


def _coloured_groups(table: pd.DataFrame, by: str | None) -> list[tuple[Any, Any, pd.DataFrame]]:
    """(colour, key, rows) per group in order of appearance; one group when ``by`` is None."""
    groups = [(None, table)] if by is None else list(table.groupby(by, sort=False))
    palette = sns.color_palette(n_colors=max(len(groups), 1))
    return [(colour, key, g) for colour, (key, g) in zip(palette, groups, strict=True)]


def _band_lines(ax: Axes, table: pd.DataFrame, by: str | None, y: str,
                line_kws: dict[str, Any] | None) -> None:
    """One line of ``y`` over sessions per group, with its ``ci_low``-``ci_high`` band."""
    for colour, key, g in _coloured_groups(table, by):
        g = g.sort_values("session")
        kws = {"color": colour, "marker": "o", "lw": 1.8} | (line_kws or {})
        ax.plot(g["session"], g[y], label=None if key is None else str(key), **kws)
        ax.fill_between(g["session"], g["ci_low"], g["ci_high"], color=colour, alpha=0.2, lw=0)


def _finish_grouped(ax: Axes, by: str | None, ylabel: str) -> Axes:
    ax.set_xlabel("session")
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
    name = data.instrument.name if data.instrument else "score"
    ax.set_xlabel("session")
    ax.set_ylabel(f"{name} ({'higher = worse' if data.higher_is_worse else 'higher = better'})")
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
    ax.set_ylabel(by or "")
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
    return _finish_grouped(ax, by, "still in treatment (Kaplan–Meier)")


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
    return _finish_grouped(ax, by, "dropout hazard")
