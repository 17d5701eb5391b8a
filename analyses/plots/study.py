"""Figures of simulation studies: performance across every condition, and SBC ranks.

A study crosses several factors, and a figure that shows one level of each factor but the
first hides most of the study. :func:`plot_study_facets` draws one panel per combination
of up to two further factors (rows x columns) around the x-axis factor;
:func:`plot_nested_loop` puts every condition of any number of factors on one axis in
lexicographic order, with the factor levels drawn as steps beneath (Rücker & Schwarzer
2014). :func:`plot_rank_ecdf` is the SBC graphical uniformity test (Säilynoja et al. 2022).

References
----------
Rücker, G. & Schwarzer, G. (2014). Presenting simulation results in a nested loop plot.
*BMC Medical Research Methodology* 14, 129. doi:10.1186/1471-2288-14-129
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from analyses.plots.data import _axes, _coloured_groups, _rows

__all__ = ["facet_axes", "plot_nested_loop", "plot_power_curve", "plot_rank_ecdf",
           "plot_sbc_ranks", "plot_study_facets", "plot_study_performance"]

_Z95 = 1.959963984540054


def facet_axes(n_rows: int, n_cols: int, *, size: tuple[float, float] = (3.6, 2.8),
               sharey: bool = True) -> tuple[Figure, np.ndarray]:
    """Make a figure with an ``n_rows x n_cols`` grid of panels (always a 2-D array of Axes).

    Examples
    --------
    >>> fig, axes = facet_axes(1, 3)
    >>> axes.shape  # always 2-D
    (1, 3)
    """
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(size[0] * n_cols, size[1] * n_rows),
                             sharey=sharey, squeeze=False, layout="constrained")
    return fig, axes


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
    """Plot a performance measure across conditions with ±1.96 Monte Carlo SE bars.

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

    Examples
    --------
    >>> summary = study_results.summarise(("coverage",)).query("dist == 'normal'")
    >>> ax = plot_study_performance(summary, metric="coverage", x="n", reference=0.95)
    >>> ax.get_ylabel()
    'coverage (±1.96 MCSE)'
    """
    sel = _rows(summary, "metric", metric, "the summary")
    if sel.duplicated([x, hue]).any():
        raise ValueError(f"several rows per ({x}, {hue}) for {metric!r}: filter the summary "
                         "to one estimand and fix the other factors first")
    ax = _axes(ax)
    for colour, key, g in _coloured_groups(sel, hue):
        g = g.sort_values(x)
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
        Output of :func:`simulations.study.sbc.sbc_histogram`.
    parameter : str
        Which parameter to draw.

    See Also
    --------
    simulations.study.sbc.sbc_histogram : Compute the table.
    simulations.study.sbc.sbc_uniformity : The matching chi-square test.

    Examples
    --------
    >>> from simulations.study.sbc import sbc_histogram
    >>> rng = np.random.default_rng(1)
    >>> ranks = pd.DataFrame({"estimand": "slope", "rank": rng.integers(0, 20, 100)})
    >>> ax = plot_sbc_ranks(sbc_histogram(ranks, 19), parameter="slope")
    >>> ax.get_title()
    'slope'
    """
    h = _rows(histogram, "parameter", parameter, "the histogram")
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


def _levels(table: pd.DataFrame, factor: str) -> list:
    return sorted(table[factor].dropna().unique().tolist(), key=lambda v: (str(type(v)), v))


def plot_study_facets(
    summary: pd.DataFrame,
    *,
    metric: str,
    x: str,
    rows: str | None = None,
    cols: str | None = None,
    hue: str = "method",
    reference: float | str | None = None,
) -> Figure:
    """Plot a performance measure in one panel per level combination of ``rows`` and ``cols``.

    Each panel is :func:`plot_study_performance` of the conditions with those levels, so
    every condition of a study with up to three varying factors is on the figure.

    Parameters
    ----------
    summary : pandas.DataFrame
        Performance table of one estimand (``metric``, ``value``, ``mcse``, factors).
    metric : str
        Which measure to show.
    x : str
        Factor on the x axis of every panel.
    rows, cols : str, optional
        Factors whose levels index the panel rows and columns.
    hue : str
        Column distinguishing lines (default ``method``).
    reference : float or str, optional
        Target line (0 for bias, the nominal level for coverage), or the name of a column
        holding it (e.g. a ``level`` factor: each panel gets its own line).

    Returns
    -------
    matplotlib.figure.Figure
        ``len(levels(rows)) x len(levels(cols))`` panels titled ``factor = level``.

    See Also
    --------
    simulations.study.metrics.summarise : Compute the performance measures.
    plot_nested_loop : Every condition of any number of factors on one axis.

    Examples
    --------
    >>> summary = study_results.summarise(("coverage",))  # t-interval coverage, n x dist
    >>> fig = plot_study_facets(summary, metric="coverage", x="n", cols="dist", reference=0.95)
    >>> len(fig.axes)  # one panel per distribution
    2
    """
    sel = _rows(summary, "metric", metric, "the summary")
    row_levels = _levels(sel, rows) if rows else [None]
    col_levels = _levels(sel, cols) if cols else [None]
    fig, axes = facet_axes(len(row_levels), len(col_levels))
    for i, r in enumerate(row_levels):
        for j, c in enumerate(col_levels):
            part = sel
            title = []
            for factor, level in ((rows, r), (cols, c)):
                if factor is not None:
                    part = part[part[factor] == level]
                    title.append(f"{factor} = {level}")
            ax = axes[i, j]
            if part.empty:  # a combination the design's filter dropped
                ax.set_axis_off()
                continue
            ref = reference
            if isinstance(reference, str):  # a column: its value in this panel, if one
                values = part[reference].unique()
                ref = float(values[0]) if len(values) == 1 else None
            plot_study_performance(part, metric=metric, x=x, hue=hue, reference=ref, ax=ax)
            ax.set_title(", ".join(title), fontsize="medium")
            if (i, j) != (0, 0) and ax.get_legend() is not None:
                ax.get_legend().remove()
    return fig


def plot_nested_loop(
    summary: pd.DataFrame,
    *,
    metric: str,
    factors: list[str],
    hue: str = "method",
    reference: float | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Nested loop plot: every condition on one axis, factor levels as steps beneath.

    Conditions are ordered lexicographically by ``factors`` (the first varies slowest); the
    measure of each ``hue`` is a step line over them with a ±1.96 MCSE band, and below it
    one step line per factor shows its level in each condition (Rücker & Schwarzer 2014).

    See Also
    --------
    plot_study_facets : Panels for up to three factors.
    simulations.study.metrics.summarise : Compute the performance measures.

    Examples
    --------
    >>> summary = study_results.summarise(("coverage",))  # t-interval coverage, n x dist
    >>> ax = plot_nested_loop(summary, metric="coverage", factors=["dist", "n"], reference=0.95)
    >>> ax.get_ylabel()
    'coverage (±1.96 MCSE)'
    """
    sel = _rows(summary, "metric", metric, "the summary")
    if sel.duplicated([*factors, hue]).any():
        raise ValueError(f"several rows per condition and {hue} for {metric!r}: filter the "
                         "summary to one estimand first")
    grid = sel[factors].drop_duplicates()
    order = sorted(grid.itertuples(index=False, name=None),
                   key=lambda row: tuple((str(type(v)), v) for v in row))
    position = {key: k for k, key in enumerate(order)}
    ax = _axes(ax, (max(6.0, 0.18 * len(order) + 2), 4.5))
    low = high = None
    for colour, key, g in _coloured_groups(sel, hue):
        at = np.array([position[tuple(r)] for r in g[factors].itertuples(index=False)])
        idx = np.argsort(at)
        xs, ys = at[idx], g["value"].to_numpy(float)[idx]
        err = _Z95 * g["mcse"].to_numpy(float)[idx]
        ax.step(xs, ys, where="mid", color=colour, label=str(key))
        ax.fill_between(xs, ys - err, ys + err, step="mid", color=colour, alpha=0.2, lw=0)
        lo, hi = np.nanmin(ys - err), np.nanmax(ys + err)
        low, high = (lo, hi) if low is None else (min(low, lo), max(high, hi))
    if reference is not None:
        ax.axhline(reference, color="black", lw=0.8, ls="--")
        low, high = min(low, reference), max(high, reference)
    span = (high - low) or 1.0
    for k, factor in enumerate(factors):  # the loop: one step line per factor, beneath
        levels = _levels(grid, factor)
        code = np.array([levels.index(row[k]) for row in order], dtype=float)
        base = low - span * (0.25 + 0.22 * (len(factors) - 1 - k))
        height = span * 0.15 / max(len(levels) - 1, 1)
        ax.step(np.arange(len(order)), base + code * height, where="mid", color="0.35", lw=1)
        ax.text(len(order) - 0.4, base, f"{factor}: {', '.join(map(str, levels))}",
                fontsize="x-small", va="bottom", color="0.25")
    ax.set_xticks([])
    ax.set_xlabel(f"{len(order)} conditions, ordered by {', '.join(factors)}")
    ax.set_ylabel(f"{metric} (±1.96 MCSE)")
    ax.legend(title=hue, frameon=False, fontsize="small")
    return ax


def plot_rank_ecdf(
    ecdf: pd.DataFrame,
    *,
    parameter: str,
    ax: Axes | None = None,
    line_kws: dict[str, Any] | None = None,
) -> Axes:
    """SBC rank ECDF minus the uniform CDF, inside its simultaneous band.

    Under calibration the whole line stays inside the grey band with the band's
    probability (95% by default); a line below the band at the left and above it at the
    right (an S) means overdispersed ranks, i.e. an overconfident posterior; a line
    entirely above or below, a biased one (Säilynoja, Bürkner & Vehtari 2022).

    Parameters
    ----------
    ecdf : pandas.DataFrame
        Output of :func:`simulations.study.sbc.rank_ecdf`.
    parameter : str
        Which parameter to draw.

    See Also
    --------
    simulations.study.sbc.rank_ecdf : Compute the table.
    simulations.study.sbc.ecdf_uniformity : The matching test.

    Examples
    --------
    >>> from simulations.study.sbc import rank_ecdf
    >>> rng = np.random.default_rng(1)
    >>> ranks = pd.DataFrame({"estimand": "slope", "rank": rng.integers(0, 20, 100)})
    >>> ax = plot_rank_ecdf(rank_ecdf(ranks, 19), parameter="slope")
    >>> ax.get_title()
    'slope (n = 100)'
    """
    e = _rows(ecdf, "parameter", parameter)
    ax = _axes(ax, (4.5, 3.0))
    z = np.r_[0.0, e["z"].to_numpy(), 1.0]
    pad = np.r_[0.0, e["band_low"].to_numpy(), 0.0], np.r_[0.0, e["band_high"].to_numpy(), 0.0]
    ax.fill_between(z, *pad, step="post", color="0.85", lw=0)
    kws = {"color": "#4c72b0"} | (line_kws or {})
    ax.step(z, np.r_[0.0, e["difference"].to_numpy(), 0.0], where="post", **kws)
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_xlabel("normalised rank")
    ax.set_ylabel("ECDF - uniform")
    ax.set_title(f"{parameter} (n = {int(e['n'].iloc[0])})", fontsize="medium")
    return ax


def plot_power_curve(
    curve: pd.DataFrame,
    *,
    x: str = "n_therapists",
    hue: str = "patients_per_therapist",
    simulated: pd.DataFrame | None = None,
    target: float | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Analytic power curves (lines), with simulated power (points, ±1.96 MCSE) if given.

    Parameters
    ----------
    curve : pandas.DataFrame
        :func:`simulations.power.analytic.power_curve` output (``power`` and the factors).
    x, hue : str
        Design factor on the x axis, and the one that makes one line per level.
    simulated : pandas.DataFrame, optional
        Rejection rates of a simulation (``method``, ``value``, ``mcse``, ``x``, ``hue``).
    target : float, optional
        Target power, drawn as a dashed line.

    See Also
    --------
    simulations.power.analytic.power_curve : Compute the curves.

    Examples
    --------
    >>> from simulations.power.analytic import power_curve
    >>> from simulations.power.design import TrialDesign
    >>> curve = power_curve(TrialDesign(n_therapists=4, patients_per_therapist=5, cohend=0.5),
    ...                     n_therapists=range(4, 25, 4), patients_per_therapist=[5, 10])
    >>> ax = plot_power_curve(curve, target=0.8)
    >>> len(ax.lines) >= 2  # one line per caseload, and the target
    True
    """
    ax = _axes(ax, (6.0, 4.0))
    levels = _levels(curve, hue) if hue in curve else [None]
    palette = sns.color_palette(n_colors=len(levels))
    markers = "osD^v<>"
    for colour, level in zip(palette, levels, strict=True):
        part = curve if level is None else curve[curve[hue] == level]
        part = part.sort_values(x)
        ax.plot(part[x], part["power"], color=colour, label=f"{hue} = {level} (analytic)")
        if simulated is None:
            continue
        sim = simulated if level is None else simulated[simulated[hue] == level]
        for k, (method, g) in enumerate(sim.groupby("method", sort=True)):
            g = g.sort_values(x)
            ax.errorbar(g[x], g["value"], yerr=_Z95 * g["mcse"], fmt=markers[k % 7],
                        color=colour, capsize=2, ms=4, ls="none",
                        label=f"{hue} = {level}, {method} (simulated)")
    if target is not None:
        ax.axhline(target, color="black", lw=0.8, ls="--")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(x)
    ax.set_ylabel("power")
    ax.legend(frameon=False, fontsize="x-small")
    return ax
