"""The report of a simulation study: every condition, every failure, MCSE everywhere.

:func:`study_report` reads a study folder and writes, in reading order:

1. **Status and failures**: per condition the replications done and failed, the failure
   rate (flagged above a threshold) and, for every distinct error and warning message, the
   replications to replay (:mod:`simulations.study.errors`);
2. **Performance**: the tidy table (one row per condition x method x estimand x metric with
   its Monte Carlo SE) and one figure per estimand and metric that shows *every*
   condition: panels for up to three varying factors (:func:`analyses.plots.study.
   plot_study_facets`), a nested loop plot for more (Rücker & Schwarzer 2014). Each caption
   names the factors, their levels and where they are on the figure;
3. **Simulation-based calibration** (when the rows hold ranks): per condition, the
   uniformity tests and the rank ECDFs with simultaneous bands (Säilynoja et al. 2022).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from analyses.plots.study import (
    facet_axes,
    plot_nested_loop,
    plot_rank_ecdf,
    plot_study_facets,
)
from analyses.report import Report, provenance

__all__ = ["MAX_FIGURES", "performance_layout", "study_report"]

#: Figures of the performance section at most; the rest are named in the report.
MAX_FIGURES = 60
#: Reference lines of the measures that have one.
_REFERENCE = {"bias": 0.0, "rbias": 0.0, "coverage": 0.95, "becover": 0.95,
              "relerror_modse": 0.0, "relprec": 0.0, "mean_rank": 0.5}


def _safe(name: str) -> str:
    """Make a report item name from free text (letters, digits, '_' and '-')."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name)[:60]


def performance_layout(summary: pd.DataFrame, factors: list[str]) -> dict:
    """Where each factor goes on a figure: x axis, panel rows and columns, or a nested loop.

    Factors with one level are fixed settings (named in captions). Of the varying ones,
    the x axis takes the numeric factor with the most levels (else the first); up to two
    more index panel columns and rows. With more than three varying factors the figure is
    a nested loop plot over all of them.

    Examples
    --------
    >>> s = pd.DataFrame({"n": [5, 10] * 3, "dist": ["a"] * 2 + ["b"] * 2 + ["c"] * 2,
    ...                   "level": 0.95})
    >>> performance_layout(s, ["n", "dist", "level"])
    {'kind': 'facets', 'x': 'n', 'cols': 'dist', 'rows': None, 'fixed': ['level']}
    """
    varying = [f for f in factors if summary[f].nunique() > 1]
    fixed = [f for f in factors if f not in varying]
    if len(varying) > 3:
        return {"kind": "nested", "factors": varying, "fixed": fixed}
    if not varying:
        return {"kind": "facets", "x": factors[0] if factors else "method", "cols": None,
                "rows": None, "fixed": fixed[1:]}
    numeric = [f for f in varying if pd.api.types.is_numeric_dtype(summary[f])]
    x = max(numeric, key=lambda f: summary[f].nunique()) if numeric else varying[0]
    others = [f for f in varying if f != x]
    return {"kind": "facets", "x": x, "cols": others[0] if others else None,
            "rows": others[1] if len(others) > 1 else None, "fixed": fixed}


def _levels_text(summary: pd.DataFrame, factor: str) -> str:
    levels = sorted(summary[factor].unique().tolist(), key=lambda v: (str(type(v)), v))
    return f"{factor} ({', '.join(map(str, levels))})"


def _caption(metric: str, estimand: str, part: pd.DataFrame, layout: dict,
             all_ids: list[int]) -> str:
    """Which conditions a figure shows, and where each factor is."""
    shown = set(part["condition_id"])
    missing = [c for c in all_ids if c not in shown]
    n = (f"all {len(shown)} conditions" if not missing else
         f"{len(shown)} of {len(all_ids)} conditions (no {metric} in condition(s) "
         f"{', '.join(map(str, missing))}: see the failures and the table)")
    if layout["kind"] == "nested":
        where = "nested loop over " + "; ".join(_levels_text(part, f)
                                                for f in layout["factors"])
    else:
        where = f"x: {_levels_text(part, layout['x'])}"
        for key, label in (("cols", "panel columns"), ("rows", "panel rows")):
            if layout[key]:
                where += f"; {label}: {_levels_text(part, layout[key])}"
    fixed = ", ".join(f"{f} = {part[f].iloc[0]}" for f in layout["fixed"])
    return (f"{metric} of {estimand} (±1.96 MCSE) in {n}: {where}"
            + (f"; fixed: {fixed}" if fixed else "") + ".")


def _add_failures(rep: Report, results: object, threshold: float) -> None:
    from simulations.study.errors import failure_summary

    design = results.design
    table = results.failure_table(threshold)
    rep.add_heading("Status and failures")
    rep.add_table("status", table, "Replications done and failed per condition; flagged: "
                  f"failure rate above {threshold:g}", show=len(table) <= 40)
    lines = failure_summary(table, list(design.factors))
    rep.add_text(" ".join(lines) if lines else "No replication failed.")
    for kind in ("error", "warning"):
        messages = results.errors(kind)
        if not messages.empty:
            rep.add_table(f"{kind}s", messages, f"Distinct {kind} messages per condition, "
                          "with the first replications to replay (`setback study replay DIR "
                          "--condition C --replication R`)", show=len(messages) <= 30)


def _add_performance(rep: Report, perf: pd.DataFrame, factors: list[str],
                     all_ids: list[int]) -> None:
    rep.add_heading("Performance")
    rep.add_table("performance", perf, "Performance measures with Monte Carlo SEs, one row "
                  "per condition x method x estimand x metric (Morris, White & Crowther 2019)",
                  show=len(perf) <= 60)
    pairs = list(dict.fromkeys(zip(perf["estimand"], perf["metric"], strict=True)))
    shown = pairs[:MAX_FIGURES]
    for estimand, metric in shown:
        part = perf[(perf["estimand"] == estimand) & (perf["metric"] == metric)]
        layout = performance_layout(part, factors)
        ref = _REFERENCE.get(metric)
        if metric in ("coverage", "becover") and "level" in factors:
            ref = "level"  # the nominal level of each condition, e.g. t_interval's
            if layout["kind"] == "nested" or layout["x"] == "level":
                ref = None if part["level"].nunique() > 1 else float(part["level"].iloc[0])
        if layout["kind"] == "nested":
            fig = plot_nested_loop(part, metric=metric, factors=layout["factors"],
                                   reference=ref).figure
        else:
            fig = plot_study_facets(part, metric=metric, x=layout["x"], rows=layout["rows"],
                                    cols=layout["cols"], reference=ref)
        rep.add_figure(_safe(f"{metric}_{estimand}"), fig,
                       _caption(metric, estimand, part, layout, all_ids))
        plt.close(fig)  # the report keeps the Figure; pyplot need not
    if len(pairs) > len(shown):
        rest = ", ".join(f"{m} of {e}" for e, m in pairs[len(shown):])
        rep.add_text(f"Not drawn (more than {MAX_FIGURES} figures; all are in the table): "
                     f"{rest}.")


def _add_sbc(rep: Report, frame: pd.DataFrame, design: object) -> None:
    """Uniformity tests and rank-ECDF figures for every condition that holds SBC ranks."""
    from simulations.study.sbc import ecdf_uniformity, rank_ecdf, sbc_uniformity

    ranked = frame.dropna(subset=["rank"])
    for cid, part in ranked.groupby("condition_id"):
        L = int(part["n_ranked"].iloc[0])  # noqa: N806
        levels = ", ".join(f"{k} = {v}" for k, v in design.condition(int(cid)).items())
        n_par = part["estimand"].nunique()
        level = 0.05 / n_par
        rep.add_heading(f"Simulation-based calibration, condition {cid} ({levels})")
        test = ecdf_uniformity(part, L, level=level).merge(
            sbc_uniformity(part, L, bins=min(20, L + 1))[["parameter", "chi2", "p_value"]],
            on="parameter", suffixes=("", "_chi2"))
        rep.add_table(f"sbc_uniformity_{cid}", test,
                      f"Uniformity of the ranks (0..{L}) per parameter: the rank-ECDF test "
                      f"(Säilynoja et al. 2022) at level {level:.4f} each (0.05 / {n_par} "
                      "parameters, Bonferroni: familywise 0.05) and a chi-square test of the "
                      "binned ranks")
        n_fail = int((~test["uniform"]).sum())
        rep.add_text(f"{len(part) // n_par} replications; {n_fail} of {n_par} parameters "
                     f"fail the rank-ECDF test at level {level:.4f}"
                     + (": the model or its sampler is miscalibrated for them." if n_fail
                        else ": no evidence of miscalibration."))
        ecdf = rank_ecdf(part, L, prob=0.95)
        names = list(dict.fromkeys(ecdf["parameter"]))
        n_cols = min(4, len(names))
        fig, axes = facet_axes(-(-len(names) // n_cols), n_cols, size=(3.4, 2.6),
                               sharey=False)
        for ax, name in zip(axes.flat, names, strict=False):
            plot_rank_ecdf(ecdf, parameter=name, ax=ax)
        for ax in list(axes.flat)[len(names):]:
            ax.set_axis_off()
        rep.add_figure(f"sbc_ecdf_{cid}", fig,
                       f"Rank ECDF minus the uniform CDF of every parameter, condition {cid}, "
                       "with its simultaneous 95% band (grey): a calibrated model stays "
                       "inside the band")
        plt.close(fig)


def study_report(study_dir: str | Path, *, flag_failures: float | None = None,
                 target_mcse: float | Mapping[str, float] | None = None,
                 reference: str | None = None) -> Report:
    """Report a simulation study so that every condition is visible.

    Parameters
    ----------
    study_dir : str or Path
        A folder written by :func:`simulations.study.run.run_study` (``setback study run``).
    flag_failures : float, optional
        Failure rate above which a condition is flagged (default
        :data:`simulations.study.errors.FLAG_FAILURE_RATE`).
    target_mcse, reference : optional
        Passed to :func:`simulations.study.metrics.summarise` (``n_needed``, ``relprec``).

    Examples
    --------
    >>> import tempfile
    >>> from simulations.study import ParquetStore, StudyDesign, run_study
    >>> tmp = tempfile.TemporaryDirectory()
    >>> folder = tmp.name
    >>> design = StudyDesign({"n": [5, 30], "dist": ["normal", "lognormal"]}, replications=20,
    ...                      seed=1)
    >>> _ = run_study(design, "t_interval", store=ParquetStore(folder), executor="serial",
    ...               progress=False)
    >>> rep = study_report(folder)
    >>> print(rep.captions["figure/coverage_mean"])  # doctest: +NORMALIZE_WHITESPACE
    coverage of mean (±1.96 MCSE) in all 4 conditions: x: n (5, 30);
    panel columns: dist (lognormal, normal).
    >>> tmp.cleanup()
    """
    from simulations.study.errors import FLAG_FAILURE_RATE
    from simulations.study.metrics import summarise
    from simulations.study.run import load_results
    from simulations.study.store import ParquetStore

    results = load_results(ParquetStore(study_dir))
    design = results.design
    rep = Report(f"Simulation study in {Path(study_dir).name}",
                 meta=provenance(seed=design.seed, design=design.to_dict(),
                                 study=dict(results.meta)))
    rep.add_text(f"Task {results.meta.get('task')}; {design.n_conditions} conditions x "
                 f"{design.replications} replications; root seed {design.seed}.")
    _add_failures(rep, results, FLAG_FAILURE_RATE if flag_failures is None else flag_failures)
    if "method" in results.frame and results.frame["method"].notna().any():
        perf = summarise(results, target_mcse=target_mcse, reference=reference)
        _add_performance(rep, perf, list(design.factors),
                         design.conditions()["condition_id"].tolist())
    else:
        rep.add_text("No replication produced results: there are no performance measures.")
    if "rank" in results.frame and results.frame["rank"].notna().any():
        _add_sbc(rep, results.frame, design)
    return rep
