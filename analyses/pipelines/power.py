"""Power and sample size of a therapist-clustered trial, as a report.

:func:`power_report` computes, for a grid of therapists per arm x patients per therapist:

- the analytic power of the time x treatment test (three-level formulas, as in powerlmm:
  :mod:`simulations.power.analytic`) and, with ``target``, the fewest therapists per arm
  that reach it for each number of patients per therapist;
- optionally the assurance (power averaged over a normal design prior on Cohen's d);
- optionally simulated power with the real analysis models (``simulate`` replications per
  design point of :func:`simulations.tasks.power.growth_power`: MixedLM, the Bayesian
  growth model, the cluster summary, naive OLS), under the design's (informative) dropout;
- optionally a simulated sample-size search over therapists per arm
  (:func:`simulations.study.search.search_sample_size`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from analyses.plots.study import plot_power_curve
from analyses.report import Report, provenance

__all__ = ["power_report"]


def power_report(design: Any, *, therapists: Sequence[int], patients: Sequence[int],
                 target: float | None = 0.8, assurance_sd: float | None = None,
                 simulate: int = 0, methods: Sequence[str] = ("mixedlm", "ols"),
                 search: bool = False, seed: int = 1, executor: Any = "processes",
                 progress: bool = True) -> Report:
    """Report analytic (and simulated) power over a grid of designs.

    Parameters
    ----------
    design : simulations.power.TrialDesign
        Everything but the numbers of therapists and patients per therapist.
    therapists, patients : sequence of int
        Therapists per arm (or in the treatment arm when partially nested) and patients
        per therapist: the grid.
    target : float or None
        Target power of the sample-size answers.
    assurance_sd : float or None
        SD of a normal design prior on Cohen's d: adds the assurance.
    simulate : int
        Replications of simulated power per design point (0: analytic only).
    methods : sequence of str
        Analyses of the simulated trials (see :data:`simulations.tasks.power.METHODS`).
    search : bool
        Also search the fewest therapists per arm reaching ``target`` by simulation (first
        method, first number of patients per therapist).
    seed : int
        Root seed of the simulations.
    executor, progress
        As in :func:`simulations.study.run.run_study`.

    Examples
    --------
    >>> from simulations.power import TrialDesign
    >>> rep = power_report(TrialDesign(cohend=-0.5), therapists=[4, 8, 12], patients=[5, 10])
    >>> rep.tables["sample_size"]["n_therapists"].tolist()
    [22, 13]
    """
    from simulations.power.analytic import analytic_assurance, analytic_sample_size, power_curve

    therapists, patients = sorted(set(therapists)), sorted(set(patients))
    rep = Report("Power of a therapist-clustered trial",
                 meta=provenance(seed=seed, design=design.to_dict(), therapists=therapists,
                                 patients=patients, simulate=simulate, methods=list(methods)))
    rep.add_text(
        f"Time x treatment effect b3 = {design.slope_diff_value:.4g} per unit of time (Cohen's "
        f"d = {design.cohend_value:.3g} at the end, pretest SD {design.pretest_sd:.3g}); "
        f"{design.n_sessions} measurements; {design.nesting}ly nested; dropout "
        f"{design.dropout:.0%} by the end"
        + (f" (informative: {design.informative:g} log-odds per slope SD, in simulations)"
           if design.informative else "") + f"; two-sided alpha {design.alpha:g}.")
    curve = power_curve(design, n_therapists=therapists, patients_per_therapist=patients)
    if assurance_sd:
        curve["assurance"] = [analytic_assurance(design.with_values(
            n_therapists=int(r.n_therapists), patients_per_therapist=int(r.patients_per_therapist)),
            effect_sd=assurance_sd) for r in curve.itertuples()]
    rep.add_heading("Analytic power")
    rep.add_table("analytic_power", curve, "Analytic power (three-level formulas as in "
                  "powerlmm; Galbraith et al. 2002)" + (f" and assurance (d ~ Normal("
                                                        f"{design.cohend_value:.3g}, "
                                                        f"{assurance_sd:g}))"
                                                        if assurance_sd else ""),
                  show=len(curve) <= 40)
    if target is not None:
        wide = range(2, max(therapists) * 4 + 1)
        sizes = pd.DataFrame({"patients_per_therapist": patients, "n_therapists": [
            analytic_sample_size(design.with_values(patients_per_therapist=p), "n_therapists",
                                 wide, target) for p in patients]}).astype(object)
        rep.add_table("sample_size", sizes, f"Fewest therapists per arm (2 to {wide[-1]}) "
                      f"reaching {target:.0%} analytic power")
    simulated = None
    if simulate:
        simulated = _simulated(design, therapists, patients, simulate, methods, seed,
                               executor, progress)
        rep.add_heading("Simulated power")
        rep.add_table("simulated_power", simulated, f"Rejection rate ({simulate} simulated "
                      "trials per design point) with its Monte Carlo SE, per analysis",
                      show=len(simulated) <= 40)
    fig = plot_power_curve(curve, simulated=simulated, target=target).figure
    rep.add_figure("power_curve", fig, "Power against therapists per arm, one line per number "
                   "of patients per therapist" + ("; points: simulated, ±1.96 MCSE"
                                                  if simulated is not None else ""))
    plt.close(fig)
    if search and simulate and target is not None:
        _add_search(rep, design, therapists, patients[0], target, simulate, methods[0], seed,
                    executor)
    return rep


def _simulated(design: Any, therapists: list[int], patients: list[int], reps: int,
               methods: Sequence[str], seed: int, executor: Any,
               progress: bool) -> pd.DataFrame:
    from simulations.study.design import StudyDesign
    from simulations.study.run import run_study

    fixed = {k: [v] for k, v in design.to_dict().items()
             if k not in ("n_therapists", "patients_per_therapist") and v is not None}
    study = StudyDesign({"n_therapists": therapists, "patients_per_therapist": patients,
                         **fixed, "methods": [",".join(methods)]}, replications=reps, seed=seed)
    results = run_study(study, "growth_power", executor=executor, progress=progress)
    perf = results.summarise(("rejection",))
    return perf[["n_therapists", "patients_per_therapist", "method", "value", "mcse", "n_ok",
                 "n_failed"]]


def _add_search(rep: Report, design: Any, therapists: list[int], patients: int,
                target: float, reps: int, method: str, seed: int, executor: Any) -> None:
    from simulations.study.search import search_sample_size, study_power

    fixed = {k: v for k, v in design.to_dict().items()
             if k not in ("n_therapists",) and v is not None}
    fixed |= {"patients_per_therapist": patients, "methods": method}
    evaluate = study_power("growth_power", fixed, "n_therapists", method=method, seed=seed,
                           alpha=design.alpha, executor=executor)
    values = list(range(2, max(therapists) * 2 + 1))
    found = search_sample_size(evaluate, values, target, replications=reps)
    rep.add_heading("Sample-size search by simulation")
    what = (f"{found.value} therapists per arm" if found.value is not None
            else f"no value up to {values[-1]}")
    rep.add_text(f"{method}, {patients} patients per therapist: {what} reach {target:.0%} "
                 f"power (fitted {found.power:.3f}, SE {found.power_se:.3f}; "
                 f"{'converged' if found.converged else 'NOT converged'} after "
                 f"{found.rounds} rounds; probit curve on log(therapists), Chalmers 2024).")
    rep.add_table("search_evaluations", found.evaluations, "Design values simulated by the "
                  "search, with their rejection rates and MCSE")
