"""Reports for a data set, a saved fit and a simulation study.

- :func:`analyze_dataset`: descriptives, clinical significance, retention, growth fit,
  expected course, recovery curves, therapist effects and deterioration risk.
- :func:`fit_report`: the model sections again, from a folder written by ``setback fit``.

The report of a simulation study is :func:`analyses.pipelines.study.study_report`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analyses.outputs import OutputFolder
from analyses.pipelines.describe import describe_dataset
from analyses.pipelines.fit import resolve_rci, run_fit
from analyses.plots import (
    plot_clinical_significance,
    plot_deterioration_risk,
    plot_expected_change,
    plot_recovery_curves,
    plot_retention,
    plot_therapist_effects,
)
from analyses.report import Report, provenance
from trajectories.data import TherapyData
from trajectories.engine.settings import SamplerSettings
from trajectories.estimands import (
    deterioration_risk,
    expected_change,
    recovery_curves,
    therapist_effects,
)
from trajectories.fit import GrowthFit
from trajectories.retention import retention_curve
from trajectories.spec import GrowthSpec

__all__ = ["add_model_sections", "analyze_dataset", "fit_report"]


def add_model_sections(rep: Report, fit: GrowthFit, *, at_session: float | None = None,
                       rci: float | None = None) -> None:
    """Add the growth-model tables and figures of ``fit`` to ``rep``."""
    data = fit.data
    sessions = data.coords()["session"]
    at = float(sessions[-1]) if at_session is None else float(at_session)
    rep.add_heading("Growth model")
    rep.add_text(fit.diagnostics.message or "Convergence checks passed (R-hat < 1.01, ESS >= "
                 "100 per chain, no divergences).")
    rep.add_table("parameters", fit.summary(), "Posterior summary of the model parameters")
    course = pd.concat([expected_change(fit, at_session=s) for s in sessions],
                       ignore_index=True)
    rep.add_table("expected_change", course, "Expected score and change from intake "
                  "(population level)")
    rep.add_figure("expected_course", plot_expected_change(course),
                   "Expected score over sessions with 95% credible band")
    intake = data.frame.groupby("patient")["score"].first()
    levels = sorted({round(float(q), 1) for q in intake.quantile([0.25, 0.5, 0.75])})
    curves = recovery_curves(fit, intake=levels)
    rep.add_table("recovery_curves", curves, "Expected recovery curves at the intake quartiles",
                  show=False)
    rep.add_figure("recovery_curves", plot_recovery_curves(curves),
                   "Expected recovery curves and failure boundaries by intake severity")
    if data.has_therapist and fit.spec.therapist != "none":
        te = therapist_effects(fit, at_session=at)
        rep.add_table("therapist_variance", te[te["therapist"].isna()],
                      f"Therapist variance and share of outcome variance at session {at:g}")
        rep.add_table("therapist_effects", te, "Therapist effects", show=False)
        rep.add_figure("therapist_effects", plot_therapist_effects(te),
                       f"Therapist effects on the expected score at session {at:g}")
    rci, note = resolve_rci(data, rci)
    if rci is not None:
        risk = deterioration_risk(fit, by_session=at, instrument=rci)
        rep.add_table("deterioration_risk", risk, f"Probability of reliable deterioration "
                      f"by session {at:g} ({note})", show=False)
        rep.add_figure("deterioration_risk", plot_deterioration_risk(risk),
                       f"Patients' deterioration risk by session {at:g}")
    else:
        rep.add_text(f"Deterioration risk is not shown: {note.split(': ', 1)[1]}")


def analyze_dataset(
    data: TherapyData,
    spec: GrowthSpec,
    *,
    out: str | Path,
    settings: SamplerSettings | None = None,
    input_path: str | Path | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> Report:
    """Describe, fit and report a data set; write the fit and ``report.html`` into ``out``.

    ``out`` is checked before the work (:class:`analyses.outputs.OutputFolder`: a non-empty
    folder that is not an analysis folder is refused unless ``overwrite``), and the fit
    files and the report are moved into it together at the end.

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> rep = analyze_dataset(load_beat_the_blues(), GrowthSpec(),
    ...                       out="btb-analysis")  # doctest: +SKIP
    """
    folder = OutputFolder(out, "analyze", overwrite=overwrite)
    settings = (settings or SamplerSettings(progress=progress)).resolved()
    rep = Report(f"Analysis of {data!r}", meta=provenance(
        seed=settings.seed, spec=spec.to_dict(), sampler=settings.to_dict(),
        input_path=input_path))
    desc = describe_dataset(data)
    rep.add_heading("Data")
    o = desc.overview
    rep.add_text(
        f"{o['patients']} patients, {o['therapists'] or 'no'} therapists, {o['observations']} "
        f"sessions ({o['sessions_per_patient_mean']:.1f} per patient). Dropout share "
        f"{100 * o['share_dropout']:.1f}%; end status {o['end_status_source']}."
    )
    if desc.clinical is not None:
        rep.add_table("clinical_significance", desc.clinical_by_status,
                      f"Jacobson–Truax outcome by end status (RCI {desc.rule['rci']:.2f}, "
                      f"cutoff {desc.rule['cutoff']})")
        rep.add_figure("clinical_significance",
                       plot_clinical_significance(desc.clinical_by_status, by="end_status"),
                       "Clinical significance by end status")
    retention = retention_curve(data)
    rep.add_table("retention", retention, "Dropout hazard and retention by session", show=False)
    rep.add_figure("retention", plot_retention(retention),
                   "Share of patients still in treatment after each session (Kaplan–Meier)")
    with folder:
        outputs = run_fit(data, spec, out=folder, settings=settings, progress=progress)
        add_model_sections(rep, outputs.fit)
        rep.write(folder)
    return rep


def fit_report(fit_dir: str | Path) -> Report:
    """A report from a folder written by ``setback fit`` (reads ``fit.nc``)."""
    path = Path(fit_dir) / "fit.nc"
    if not path.exists():
        raise FileNotFoundError(f"{fit_dir}: no fit.nc (write one with `setback fit`)")
    fit = GrowthFit.load(str(path))
    rep = Report(f"Growth model fitted to {fit.data!r}",
                 meta=provenance(seed=fit.settings.seed, spec=fit.spec.to_dict(),
                                 sampler=fit.settings.to_dict(), input_path=path))
    add_model_sections(rep, fit)
    return rep
