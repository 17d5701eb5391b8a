"""The main job behind ``make demo``: simulate a clinic, compare policies, fit, report.

1. Simulate a default clinic (``ClinicConfig()``: PHQ-9, 22 therapists, informative dropout)
   under treatment as usual, feedback, feedback + clinical support tools and alliance repair,
   with common random numbers, and compare their failure rates.
2. Fit the Bayesian growth model to the treatment-as-usual clinic's observed data.
3. From the fit: expected course and recovery curves, therapist effects and their share of
   outcome variance, each patient's deterioration risk, and the not-on-track signal
   (P(failure | first sessions)) checked on a second, held-out clinic.
4. Write everything as a report folder (``report.html``, CSV tables, PNG/SVG figures).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from analyses.outputs import OutputFolder
from analyses.pipelines.analyze import add_model_sections
from analyses.pipelines.policies import (
    DEMO_POLICIES,
    compare_policies_report,
    headline_policy_numbers,
)
from analyses.plots import plot_risk_calibration, plot_trajectories
from analyses.report import Report, provenance
from simulations import ClinicConfig, simulate
from trajectories.estimands import recovery_curves
from trajectories.fit import fit_growth
from trajectories.predict import not_on_track_check
from trajectories.spec import GrowthSpec

__all__ = ["DemoSettings", "run_demo"]


@dataclass(frozen=True)
class DemoSettings:
    """Sizes of the demo; the defaults take a few minutes on 2 cores.

    Examples
    --------
    >>> DemoSettings.quick().n_patients
    300
    """

    n_patients: int = 2000
    n_therapists: int = 22
    draws: int = 2000  # therapist_corr (22 therapists) needs them for ESS >= 100 per chain
    tune: int = 1000
    seen_sessions: int = 4
    seed: int = 2026

    @classmethod
    def quick(cls) -> DemoSettings:
        """Tiny sizes for tests: every step runs, the numbers mean little."""
        return cls(n_patients=300, n_therapists=6, draws=150, tune=150)


def run_demo(
    out: str | Path | OutputFolder = "demo-output",
    *,
    settings: DemoSettings | None = None,
    echo: bool = True,
    overwrite: bool = False,
) -> Report:
    """Run the demo and write its report folder; return the :class:`Report`.

    ``out`` is checked first: a non-empty folder that is not a demo report is refused
    unless ``overwrite`` (:class:`analyses.outputs.OutputFolder`). Every draw comes from
    ``settings.seed`` (recorded in ``meta.json`` and the Methods text), so the same seed
    gives the same report.

    Examples
    --------
    The demo fits a model, so it runs from ``setback demo``, not here; its folder is
    checked before any work:

    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = Path(folder, "taken").write_text("a file")
    ...     try:
    ...         run_demo(Path(folder, "taken"), settings=DemoSettings.quick())
    ...     except ValueError as err:
    ...         print("is a file, not a folder" in str(err))
    True
    """
    s = settings or DemoSettings()
    folder = out if isinstance(out, OutputFolder) else OutputFolder(out, "demo",
                                                                    overwrite=overwrite)
    say = print if echo else (lambda *a, **k: None)
    config = ClinicConfig(n_patients=s.n_patients, n_therapists=s.n_therapists)
    spec = GrowthSpec(time="log")
    rep = Report("setback demo: a simulated clinic, four policies and a growth model",
                 meta=provenance(seed=s.seed, spec=spec.to_dict(), config=config.to_dict(),
                                 settings=s.__dict__))
    rep.add_text(
        "This report was made by `make demo`. A clinic was simulated with setback's defaults "
        "(calibrated to published outcome, feedback, dropout and therapist-effect figures; see "
        "docs/simulator.md), four policies were compared on the same patients, and the "
        f"Bayesian growth model was fitted to the treatment-as-usual clinic's session data. "
        f"Every random draw comes from seed {s.seed}: `setback demo --seed {s.seed}` gives "
        "this report again."
    )
    say(f"1/3  Simulating {s.n_patients} patients of {s.n_therapists} therapists under "
        f"{', '.join(DEMO_POLICIES)} ...")
    _, comparison = compare_policies_report(config, DEMO_POLICIES, seed=s.seed, report=rep)

    tau = simulate(config, "tau", seed=s.seed)
    last = config.max_sessions - 1
    say(f"2/3  Fitting the growth model ({spec.time} time, patient and therapist intercepts "
        f"and slopes) to {tau.data.n_observations} sessions ...")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = fit_growth(spec, tau.data, draws=s.draws, tune=s.tune, chains=2, seed=s.seed,
                         progress=echo)
    convergence = [str(w.message) for w in caught if "unreliable" in str(w.message)]

    say("3/3  Estimands, not-on-track check on a held-out clinic, report ...")
    at = min(12, last)
    add_model_sections(rep, fit, at_session=at)

    rep.add_heading("Not-on-track signal on a held-out clinic")
    curves = recovery_curves(fit, intake=[15], sessions=list(range(last + 1)))
    mid = curves.rename(columns={"expected_score": "expected", "failure_boundary": "upper"})
    flags = tau.sessions.loc[tau.sessions["alert"], ["patient", "session"]]
    rep.add_figure("trajectories", plot_trajectories(tau.data, n_patients=30, curve=mid,
                                                     flags=flags, seed=s.seed),
                   "Thirty patients' observed courses, the expected curve for intake 15 "
                   "(black) and its failure boundary (dashed); red points are the not-on-track "
                   "alerts of the simulated clinic's monitor")
    held = simulate(config, "tau", seed=s.seed + 1)
    failed = held.patients.set_index("patient")["failure"]
    pred, auc = not_on_track_check(fit, held.data, failed, seen=s.seen_sessions,
                                   at_session=last)
    rep.add_text(
        f"For {len(pred)} patients of a second simulated clinic, the fitted model predicted "
        f"P(no reliable improvement at session {last}) from their first {s.seen_sessions} "
        f"sessions only. Area under the ROC curve: {auc:.2f}."
    )
    rep.add_table("not_on_track_predictions", pred, "Predicted failure risk (with 95% "
                  "credible and predictive intervals) and the observed outcome", show=False)
    rep.add_figure("not_on_track_calibration",
                   plot_risk_calibration(pred["p_failure"], pred["failed"]),
                   "Calibration of the predicted failure risk on the held-out clinic: mean "
                   "predicted risk against the observed rate per risk decile (95% binomial "
                   "intervals)")
    outdir = rep.write(folder)

    say("\nHeadline numbers")
    for line in headline_policy_numbers(comparison):
        say("  " + line)
    if "expected_change" in rep.tables:  # the estimates are usable
        course = rep.tables["expected_change"]
        pop = course[(course["session"] == at) & (course["quantity"] == "change")].iloc[0]
        te = rep.tables["therapist_variance"]
        icc = te[te["quantity"] == "icc"].iloc[0]
        risk = rep.tables["deterioration_risk"]
        say(f"  expected change by session {at}: {pop['mean']:+.1f} PHQ-9 points "
            f"(95% CrI {pop['ci_low']:+.1f} to {pop['ci_high']:+.1f})")
        say(f"  therapist share of outcome variance at session {at}: {icc['mean']:.3f} "
            f"(95% CrI {icc['ci_low']:.3f} to {icc['ci_high']:.3f})")
        say(f"  patients with deterioration risk > 50% by session {at}: "
            f"{int((risk['p_deteriorated'] > 0.5).sum())} of {len(risk)}")
    say(f"  not-on-track signal from {s.seen_sessions} sessions, held-out AUC: {auc:.2f}")
    if convergence:
        say("  note: " + convergence[0])
    say(f"seed {s.seed}")
    say(f"\nReport: {(outdir / 'report.html').resolve()}")
    return rep
