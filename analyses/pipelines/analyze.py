"""Reports for a data set, a saved fit and a simulation study.

- :func:`analyze_dataset`: data (descriptives, clinical significance, retention, observed
  trajectories), Methods, and the model sections.
- :func:`add_model_sections` / :func:`fit_report`: Methods written from the fit, observed
  courses against the expected course, and the estimates (parameters, expected course,
  recovery curves, therapist effects, deterioration risk, dropout risk of a joint model).
  A fit whose chains disagree gets a warning instead of estimates.

The report of a simulation study is :func:`analyses.pipelines.study.study_report`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analyses.methods import add_methods
from analyses.outputs import OutputFolder
from analyses.pipelines.describe import describe_dataset
from analyses.pipelines.fit import resolve_rci, run_fit
from analyses.pipelines.workflow import add_workflow_sections
from analyses.plots import (
    plot_clinical_significance,
    plot_deterioration_risk,
    plot_expected_change,
    plot_recovery_curves,
    plot_retention,
    plot_therapist_effects,
    plot_trajectories,
)
from analyses.report import Report, provenance
from trajectories.data import TherapyData
from trajectories.dropout_estimands import dropout_risk
from trajectories.engine.settings import SamplerSettings
from trajectories.estimands import (
    deterioration_risk,
    expected_change,
    raw_therapist_effects,
    recovery_curves,
    therapist_effects,
)
from trajectories.fit import GrowthFit
from trajectories.retention import retention_curve
from trajectories.spec import GrowthSpec

__all__ = ["add_data_sections", "add_model_sections", "analyze_dataset", "course_table",
           "fit_report"]

#: Patients drawn (seeded) for the observed-trajectories figure.
N_TRAJECTORIES = 30


def _title(data: TherapyData, source: str | Path | None) -> str:
    name = Path(source).name if source is not None else "the data"
    ther = f" of {data.n_therapists} therapists" if data.has_therapist else ""
    return (f"Growth-model analysis of {name}: {data.n_patients:,} patients{ther}, "
            f"{data.score_label}")


def add_data_sections(rep: Report, data: TherapyData) -> None:
    """Describe the data: counts, clinical significance, retention, observed courses.

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> rep = Report("Data example")
    >>> add_data_sections(rep, load_beat_the_blues())
    >>> rep._order[0], "retention" in rep.figures
    (('heading', 'Data'), True)
    """
    desc = describe_dataset(data)
    o = desc.overview
    unit = data.time_unit
    rep.add_heading("Data")
    rep.add_text(
        f"{o['patients']:,} patients, {o['therapists'] or 'no'} therapists, "
        f"{o['observations']:,} scores on the {data.score_label} at {unit}s "
        f"{data.frame['session'].min()} to {data.frame['session'].max()} "
        f"({o['sessions_per_patient_mean']:.1f} per patient, from "
        f"{o['sessions_per_patient_min']} to {o['sessions_per_patient_max']}). "
        f"{100 * o['share_dropout']:.1f}% dropped out and {100 * o['share_completed']:.1f}% "
        f"completed; end status {o['end_status_source']}.")
    rep.add_figure("observed_trajectories",
                   plot_trajectories(data, n_patients=N_TRAJECTORIES, seed=0),
                   f"Observed {data.score_label} scores of {min(N_TRAJECTORIES, o['patients'])} "
                   f"patients drawn at random (seed 0), one line per patient, by {unit}")
    if desc.clinical is not None:
        r = desc.rule
        cut = "no cutoff" if r["cutoff"] is None else f"cutoff {r['cutoff']:g}"
        rep.add_table("clinical_significance", desc.clinical_by_status,
                      f"Jacobson–Truax outcome (percent of patients) by end status: reliable "
                      f"change index {r['rci']:.2f} ({r['rci_source']}), {cut}")
        rep.add_figure("clinical_significance",
                       plot_clinical_significance(desc.clinical_by_status, by="end_status"),
                       "Jacobson–Truax categories by end status (percent of patients)")
    retention = retention_curve(data)
    rep.add_table("retention", retention, f"Dropout hazard and retention by {unit}",
                  show=False)
    rep.add_figure("retention", plot_retention(retention),
                   f"Share of patients still in treatment after each {unit} (Kaplan–Meier "
                   "estimate with its 95% pointwise band)")


def add_model_sections(rep: Report, fit: GrowthFit, *, at_session: float | None = None,
                       rci: float | None = None,
                       tables: dict[str, pd.DataFrame] | None = None) -> None:
    """Add Methods, the model check and the estimates of ``fit`` to ``rep``.

    Estimands are evaluated at ``at_session`` (default: the last session in the data);
    deterioration risk uses the one reliable-change rule (:func:`resolve_rci`). When the
    chains disagree (R-hat > 1.1) the report says so and shows the parameter table only,
    so that no unusable number is presented as a result. ``tables`` are estimand tables of
    this fit at the same ``at_session`` and ``rci`` (:attr:`FitOutputs.tables` of
    :func:`run_fit`), shown instead of being computed again.

    Examples
    --------
    >>> rep = Report("Model example")
    >>> add_model_sections(rep, small_fit, at_session=8)
    >>> ("heading", "Methods") in rep._order, "expected_course" in rep.figures
    (True, True)
    """
    data = fit.data
    unit = data.time_unit
    tables = tables or {}
    sessions = data.coords()["session"]
    at = float(sessions[-1]) if at_session is None else float(at_session)
    rci, note = resolve_rci(data, rci)
    add_methods(rep, fit, rci_note=note)
    usable = fit.diagnostics.usable
    course = None
    if usable:
        course = pd.concat([expected_change(fit, at_session=s) for s in sessions],
                           ignore_index=True)
    _add_model_checks(rep, fit, course)
    rep.add_heading("Estimates")
    rep.add_table("parameters", fit.summary(),
                  "Posterior summary of the model parameters: mean, SD and 95% credible "
                  "interval, effective sample sizes and R-hat"
                  + ("" if usable else " (NOT USABLE: the chains disagree; shown only to "
                     "diagnose the fit)"))
    if course is None:
        return
    level = f"{100 * course.attrs.get('ci_prob', 0.95):g}%"
    rep.add_table("expected_course", course_table(course),
                  f"Expected {data.score_label} score and change from intake by {unit} "
                  f"(population level): posterior means with {level} credible intervals")
    rep.add_table("expected_change", course, "The same with posterior SDs and the "
                  "standardised change, one row per quantity", show=False)
    rep.add_figure("expected_course", plot_expected_change(course),
                   f"Expected {data.score_label} score by {unit} with its {level} credible band")
    intake = data.frame.groupby("patient")["score"].first()
    levels = sorted({round(float(q), 1) for q in intake.quantile([0.25, 0.5, 0.75])})
    curves = recovery_curves(fit, intake=levels)
    band = f"{100 * curves.attrs.get('band', 0.8):g}%"
    rep.add_table("recovery_curves", curves, f"Expected recovery curves at the intake quartiles "
                  f"({levels}), with {level} credible intervals and {band} predictive bands",
                  show=False)
    rep.add_figure("recovery_curves", plot_recovery_curves(curves),
                   f"Expected recovery curves by intake severity; bands hold the central {band} "
                   "of patients with that intake, dashed lines are the failure boundaries "
                   "(Finch, Lambert & Schaalje 2001)")
    if fit.design.q_t:
        te = tables.get("therapist_effects")
        te = therapist_effects(fit, at_session=at) if te is None else te
        rep.add_table("therapist_variance", te[te["therapist"].isna()].drop(
                          columns="therapist"),
                      f"Therapist variance and share of outcome variance (ICC) at {unit} {at:g}, "
                      f"with {level} credible intervals")
        rep.add_table("therapist_effects", te, f"Therapist effects at {unit} {at:g}",
                      show=False)
        raw = _raw_effects(data, at)
        rep.add_figure("therapist_effects", plot_therapist_effects(te, raw=raw),
                       f"Therapist effects on the expected score at {unit} {at:g} with {level} "
                       "credible intervals" + ("; open circles are unpooled means"
                                               if raw is not None else ""))
    if rci is not None:
        risk = tables.get("deterioration_risk")
        risk = deterioration_risk(fit, by_session=at, instrument=rci) if risk is None else risk
        rep.add_table("deterioration_risk", risk, f"Each patient's probability of reliable "
                      f"deterioration by {unit} {at:g} (RCI {rci:.2f})", show=False)
        rep.add_figure("deterioration_risk", plot_deterioration_risk(risk),
                       f"Patients' posterior probability of reliable deterioration by {unit} "
                       f"{at:g} (RCI {rci:.2f})")
    else:
        rep.add_text(f"Deterioration risk is not shown: {note.split(': ', 1)[1]}", kind="note")
    if fit.spec.dropout is not None:
        dropout = tables.get("dropout_risk")
        rep.add_table("dropout_risk", dropout_risk(fit) if dropout is None else dropout,
                      "Each patient's probability of dropping out over the next sessions "
                      "(joint model)", show=False)


def course_table(course: pd.DataFrame) -> pd.DataFrame:
    """Tabulate the expected course, one row per session.

    Expected score and change from intake, each with its credible interval (from the long table of
    :func:`expected_change`).

    Examples
    --------
    >>> long = pd.DataFrame({"session": [0, 0, 0], "quantity": ["expected_score", "change",
    ...                      "standardised_change"], "mean": [20.0, 0.0, 0.0],
    ...                      "ci_low": [18.0, 0.0, 0.0], "ci_high": [22.0, 0.0, 0.0]})
    >>> course_table(long).columns.tolist()
    ['session', 'expected_score', 'expected_low', 'expected_high', 'change', 'change_low', \
'change_high']
    """
    wide = course.pivot_table(index="session", columns="quantity",
                              values=["mean", "ci_low", "ci_high"], sort=True)
    out = pd.DataFrame({
        "session": wide.index.to_numpy(),
        "expected_score": wide[("mean", "expected_score")].to_numpy(),
        "expected_low": wide[("ci_low", "expected_score")].to_numpy(),
        "expected_high": wide[("ci_high", "expected_score")].to_numpy(),
        "change": wide[("mean", "change")].to_numpy(),
        "change_low": wide[("ci_low", "change")].to_numpy(),
        "change_high": wide[("ci_high", "change")].to_numpy(),
    })
    out.attrs = dict(course.attrs)
    return out


def _raw_effects(data: TherapyData, at: float) -> pd.DataFrame | None:
    """Unpooled therapist means at ``at`` when that is a session with scores, else None."""
    try:
        return raw_therapist_effects(data, at_session=int(at))
    except ValueError:
        return None


def _add_model_checks(rep: Report, fit: GrowthFit, course: pd.DataFrame | None) -> None:
    """Show observed courses against the expected course.

    This is the first look at whether the model describes the data; the posterior predictive check
    and contrast figures of the workflow work join this section.
    """
    data = fit.data
    rep.add_heading("Observed courses and the expected course")
    curve = None
    if course is not None:
        sel = course[course["quantity"] == "expected_score"]
        curve = pd.DataFrame({"session": sel["session"], "expected": sel["mean"],
                              "lower": sel["ci_low"], "upper": sel["ci_high"]})
    n = min(N_TRAJECTORIES, data.n_patients)
    rep.add_figure("trajectories_and_expected",
                   plot_trajectories(data, n_patients=n, seed=0, curve=curve),
                   f"Observed courses of {n} patients drawn at random (thin lines)"
                   + (", the model's expected population course (black) and its 95% credible "
                      "interval (dashed)" if curve is not None else ""))
    add_workflow_sections(rep, fit)


def analyze_dataset(
    data: TherapyData,
    spec: GrowthSpec,
    *,
    out: str | Path | OutputFolder,
    settings: SamplerSettings | None = None,
    input_path: str | Path | None = None,
    progress: bool = True,
    overwrite: bool = False,
    at_session: float | None = None,
    rci: float | None = None,
) -> Report:
    """Describe, fit and report a data set; write the fit and ``report.html`` into ``out``.

    ``out`` is checked before the work (:class:`analyses.outputs.OutputFolder`: a non-empty
    folder that is not an analysis folder is refused unless ``overwrite``), and the fit
    files and the report are moved into it together at the end. The seed (drawn when
    ``settings`` has none) is in the report's ``meta.json``, the Methods text and the fit.

    Examples
    --------
    An analysis samples, so it runs from the CLI or a notebook, not here; a spec the data
    cannot support fails before any sampling:

    >>> import tempfile
    >>> from trajectories.datasets import load_beat_the_blues
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     try:
    ...         analyze_dataset(load_beat_the_blues(), GrowthSpec(covariates=("age",)),
    ...                         out=f"{folder}/analysis")
    ...     except ValueError as err:
    ...         print(str(err).split(":")[0])
    column 'age'
    """
    folder = out if isinstance(out, OutputFolder) else OutputFolder(out, "analyze",
                                                                    overwrite=overwrite)
    settings = (settings or SamplerSettings(progress=progress)).resolved()
    rep = Report(_title(data, input_path), meta=provenance(
        seed=settings.seed, spec=spec.to_dict(), sampler=settings.to_dict(),
        input_path=input_path))
    add_data_sections(rep, data)
    with folder:
        outputs = run_fit(data, spec, out=folder, settings=settings, progress=progress,
                          at_session=at_session, rci=rci, input_path=input_path)
        rep.meta["diagnostics"] = outputs.fit.diagnostics.to_dict()
        add_model_sections(rep, outputs.fit, at_session=at_session, rci=rci,
                           tables=outputs.tables)
        rep.write(folder)
    return rep


def fit_report(fit_dir: str | Path) -> Report:
    """Build a report from a folder written by ``setback fit`` or ``setback analyze``.

    It reads ``fit.nc`` and gives Methods, the model check and the estimates.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     small_fit.save(f"{folder}/fit.nc")
    ...     rep = fit_report(folder)
    >>> rep.name.startswith("Growth model fitted to 100 patients")
    True
    """
    path = Path(fit_dir) / "fit.nc"
    if not path.exists():
        raise FileNotFoundError(f"{fit_dir}: no fit.nc (write one with `setback fit`)")
    fit = GrowthFit.load(str(path))
    rep = Report(f"Growth model fitted to {fit.data.n_patients:,} patients' "
                 f"{fit.data.score_label} scores ({Path(fit_dir).name})",
                 meta=provenance(seed=fit.settings.seed, spec=fit.spec.to_dict(),
                                 sampler=fit.settings.to_dict(), input_path=path,
                                 diagnostics=fit.diagnostics.to_dict()))
    add_model_sections(rep, fit)
    return rep
