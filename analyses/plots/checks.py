"""Figures of the Bayesian workflow: contrasts over sessions and posterior predictive checks."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from analyses.plots.data import _axes, _band_lines, _finish_grouped, units_of
from trajectories.engine import tree

__all__ = ["plot_contrast", "plot_predictive_check", "predictive_summaries"]


def plot_contrast(
    table: pd.DataFrame,
    *,
    scale: str = "raw",
    ax: Axes | None = None,
    line_kws: dict[str, Any] | None = None,
) -> Axes:
    """Contrast of each level against the reference over sessions, with its credible band.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`trajectories.estimands.contrast` with several sessions
        (``at_session=[...]``).
    scale : {"raw", "standardised"}
        Which rows of the table to draw.

    See Also
    --------
    trajectories.estimands.contrast : Compute the table.

    Examples
    --------
    >>> from trajectories.contrasts import contrast
    >>> table = contrast(small_fit, by="treatment", at_session=[0, 2, 4, 8])
    >>> ax = plot_contrast(table)
    >>> len(ax.lines) >= 1, ax.get_xlabel()
    (True, 'session (0 = intake)')
    """
    sel = table[table["scale"] == scale]
    if sel.empty:
        raise ValueError(f"scale {scale!r} not in the table (it has "
                         f"{sorted(table['scale'].unique())})")
    ax = _axes(ax)
    vs = sel["level"].astype(str) + " - " + sel["reference"].astype(str)
    _band_lines(ax, sel.assign(vs=vs), "vs", "estimate", line_kws)
    ax.axhline(0.0, color="black", lw=0.8)
    by = str(sel["by"].iloc[0])
    unit = "score points" if scale == "raw" else "intake SDs"
    ax = _finish_grouped(ax, None, f"difference in expected score ({unit}; 95% band)",
                         units_of(table))
    ax.legend(title=by, frameon=False)
    return ax


def predictive_summaries(fit: object) -> dict[str, pd.DataFrame]:
    """Observed and replicated statistics of a fit's ``posterior_predictive`` group.

    Returns ``sessions`` (per session and draw: mean, 10th and 90th percentile of the
    scores, plus the observed values), ``change`` (per patient with two or more scores:
    the observed last minus first score) and ``replicated_change`` (the same change per
    draw, an array of shape (draws, patients)).

    Examples
    --------
    >>> from trajectories.checks import posterior_predictive
    >>> parts = predictive_summaries(posterior_predictive(small_fit, draws=20, seed=1))
    >>> sorted(parts)
    ['change', 'replicated_change', 'sessions']
    >>> try:
    ...     predictive_summaries(small_fit)
    ... except ValueError as err:
    ...     print(str(err).split(":")[0])
    the fit has no posterior_predictive group
    """
    if not tree.has_group(fit.idata, "posterior_predictive"):
        raise ValueError("the fit has no posterior_predictive group: call "
                         "trajectories.checks.posterior_predictive(fit) first")
    observed = tree.group(fit.idata, "observed_data")
    reps = tree.flat(tree.group(fit.idata, "posterior_predictive"), "score")  # (S, obs)
    session = observed["obs_session"].values
    patient = observed["obs_patient"].values
    y = observed["score"].values
    rows = []
    for s in np.unique(session):
        cols = session == s
        r = reps[:, cols]
        rows.append(pd.DataFrame({
            "session": s, "draw": np.arange(len(r)), "mean": r.mean(1),
            "p10": np.quantile(r, 0.1, axis=1), "p90": np.quantile(r, 0.9, axis=1),
            "observed_mean": y[cols].mean(), "observed_p10": np.quantile(y[cols], 0.1),
            "observed_p90": np.quantile(y[cols], 0.9), "n": int(cols.sum())}))
    frame = pd.DataFrame({"patient": patient, "row": np.arange(len(y))})
    ends = frame.groupby("patient", sort=False)["row"].agg(["first", "last", "size"])
    ends = ends[ends["size"] > 1]
    change = pd.DataFrame({"patient": ends.index, "observed": y[ends["last"]] - y[ends["first"]]})
    replicated = reps[:, ends["last"].to_numpy()] - reps[:, ends["first"].to_numpy()]
    return {"sessions": pd.concat(rows, ignore_index=True), "change": change,
            "replicated_change": replicated}


def plot_predictive_check(
    fit: object,
    *,
    axes: np.ndarray | None = None,
    n_lines: int = 40,
    hist_kws: dict[str, Any] | None = None,
) -> np.ndarray:
    """Posterior predictive check: observed vs replicated scores per session and change.

    Left: per session, the observed mean and 10th/90th percentiles (points) against the
    90% intervals of the same statistics over replicated data sets (bands). Right: the
    distribution of each patient's change (last minus first score), observed (bars)
    against ``n_lines`` replicated data sets (lines). Points outside their bands mark what
    the model does not reproduce.

    Parameters
    ----------
    fit : GrowthFit
        A fit returned by :func:`trajectories.checks.posterior_predictive`.
    axes : array of two Axes, optional
        Where to draw (default: a new 1 x 2 figure).

    Returns
    -------
    numpy.ndarray of Axes
        The two panels.

    See Also
    --------
    trajectories.checks.posterior_predictive : Draw the replicated scores.

    Examples
    --------
    >>> from trajectories.checks import posterior_predictive
    >>> checked = posterior_predictive(small_fit, draws=20, seed=1)
    >>> axes = plot_predictive_check(checked, n_lines=10)
    >>> axes.shape  # scores per session, and each patient's change
    (2,)
    """
    summ = predictive_summaries(fit)
    if axes is None:
        axes = plt.subplots(1, 2, figsize=(10.0, 4.0))[1]
    left, right = axes
    per = summ["sessions"].groupby("session")
    for stat, colour, label in (("mean", "#4c72b0", "mean"),
                                ("p10", "#8da0cb", "10th/90th pct"),
                                ("p90", "#8da0cb", "90th pct")):
        band = per[stat].quantile([0.05, 0.95]).unstack()
        left.fill_between(band.index, band[0.05], band[0.95], color=colour, alpha=0.3, lw=0,
                          label=f"replicated {label} (90%)" if stat != "p90" else None)
        obs = per[f"observed_{stat}"].first()
        left.plot(obs.index, obs.to_numpy(), "o", color="black" if stat == "mean" else "0.4",
                  ms=4, label=f"observed {label}" if stat != "p90" else None)
    left.set_xlabel("session")
    left.set_ylabel("score")
    left.legend(frameon=False, fontsize="small")
    change, reps = summ["change"]["observed"].to_numpy(), summ["replicated_change"]
    bins = np.histogram_bin_edges(np.concatenate([change, reps[: n_lines].ravel()]), bins=25)
    kws = {"bins": bins, "density": True, "color": "0.75", "label": "observed"} | (
        hist_kws or {})
    right.hist(change, **kws)
    centres = 0.5 * (bins[1:] + bins[:-1])
    pick = np.linspace(0, len(reps) - 1, min(n_lines, len(reps))).round().astype(int)
    for j, s in enumerate(pick):
        dens, _ = np.histogram(reps[s], bins=bins, density=True)
        right.plot(centres, dens, color="#4c72b0", alpha=0.25, lw=1,
                   label="replicated" if j == 0 else None)
    right.set_xlabel("change from first to last score")
    right.set_ylabel("density (patients)")
    right.legend(frameon=False, fontsize="small")
    return np.asarray(axes)
