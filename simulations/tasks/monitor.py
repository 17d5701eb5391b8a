"""Monitor operating characteristics: a fitted growth model as the not-on-track monitor.

Closes the loop between :mod:`trajectories` and :mod:`simulations`: the growth model is
fitted to a *training* clinic under treatment as usual, turned into a
:class:`~simulations.clinic.monitors.FittedModelMonitor`, and used to flag patients of a *new*
clinic, beside the generating-model monitor
(:class:`~simulations.clinic.monitors.ExpectedRecoveryMonitor`, whose boundaries come from a large
reference run of the simulator itself, i.e. the best a service could know).

Both monitors get the same alert budget: the fitted model's risk threshold is set so that
the share of training patients it ever flags equals the share the expected-recovery
monitor ever flags there (unless the condition fixes ``threshold``). Hit rates are then
compared at equal alert rates, as they should be (DOMAIN.md section 3).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from simulations.tasks.registry import check_factors, register_task

__all__ = ["MONITOR_FACTORS", "monitor_study", "operating_characteristics"]

#: Factors of the monitor study, with their defaults.
MONITOR_FACTORS: dict[str, Any] = {
    "n_train": 300, "n_test": 400, "caseload": 30, "setting": "trial", "max_sessions": 20,
    "not_percentile": 0.9, "threshold": "match", "time": "log", "therapist": "intercept",
    "draws": 200, "tune": 300, "chains": 2, "max_draws": 100, "p_act": None,
}


def operating_characteristics(patients: pd.DataFrame, n_therapists: int) -> dict[str, float]:
    """Hit rates of NOT flags against eventual failure, from a simulated patient table.

    Parameters
    ----------
    patients : pandas.DataFrame
        ``SimulatedClinic.patients`` of a run under treatment as usual with the monitor:
        ``failure``, ``ever_not``, ``first_not_session``, ``n_sessions``.
    n_therapists : int
        Therapists of the clinic (for alerts per caseload).

    Returns
    -------
    dict
        ``sensitivity`` (flagged among failures), ``specificity`` (not flagged among
        non-failures), ``ppv`` (failures among flagged), ``flag_rate``, ``lead_time`` (mean
        sessions from the first flag to the last attended session, among flagged
        failures) and ``alerts_per_therapist`` (flagged patients per therapist caseload).

    Examples
    --------
    >>> t = pd.DataFrame({"failure": [True, True, False, False],
    ...                   "ever_not": [True, False, True, False],
    ...                   "first_not_session": [2, -1, 3, -1], "n_sessions": [10, 8, 12, 9]})
    >>> oc = operating_characteristics(t, n_therapists=2)
    >>> oc["sensitivity"], oc["specificity"], oc["lead_time"], oc["alerts_per_therapist"]
    (0.5, 0.5, 7.0, 1.0)
    """
    fail = patients["failure"].to_numpy(bool)
    flag = patients["ever_not"].to_numpy(bool)
    last = patients["n_sessions"].to_numpy(float) - 1.0
    first = patients["first_not_session"].to_numpy(float)
    hit = fail & flag

    def ratio(a: np.ndarray, b: np.ndarray) -> float:
        return float(a.sum() / b.sum()) if b.sum() else float("nan")

    return {
        "sensitivity": ratio(hit, fail),
        "specificity": ratio(~flag & ~fail, ~fail),
        "ppv": ratio(hit, flag),
        "flag_rate": float(flag.mean()),
        "lead_time": float(np.mean(last[hit] - first[hit])) if hit.any() else float("nan"),
        "alerts_per_therapist": float(flag.sum() / n_therapists),
    }


def _score_matrix(data: Any, max_sessions: int) -> np.ndarray:
    """Observed scores (patients x sessions), NaN after each patient's last session."""
    frame = data.frame
    wide = frame.pivot(index="patient", columns="session", values="score")
    return wide.reindex(columns=range(max_sessions)).to_numpy(float)


def _match_threshold(monitor: Any, scores: np.ndarray, target_rate: float,
                     instrument: Any) -> float:
    """Risk threshold at which the monitor ever flags ``target_rate`` of these patients."""
    risk = np.full(scores.shape, np.nan)
    for s in range(1, scores.shape[1]):
        seen = ~np.isnan(scores[:, s])
        if seen.any():
            risk[seen, s] = monitor.p_failure(s, scores[seen], instrument=instrument)
    peak = np.nanmax(np.where(np.isnan(risk), -1.0, risk), axis=1)
    q = float(np.quantile(peak, 1.0 - target_rate)) if 0 < target_rate < 1 else 0.5
    return float(np.clip(q, 1e-6, 1 - 1e-6))


def monitor_study(condition: Mapping[str, Any], rng: np.random.Generator) -> list[dict]:
    """Fit the growth model on a training clinic and use it as the NOT monitor on a new one.

    One replication: (1) simulate a training clinic under TAU and fit the growth model
    (``GrowthSpec(time=..., therapist=...)``, the fast collapsed path, which does not
    compile); (2) set the fitted monitor's threshold (see the module
    docstring); (3) on a new clinic (new seed, same configuration) run TAU with each monitor
    for its operating characteristics, and feedback with each monitor (common random
    numbers: same patients and noise) for the failure rate that feedback achieves.

    Parameters
    ----------
    condition : Mapping
        Factors (all optional, see :data:`MONITOR_FACTORS`): ``n_train``, ``n_test``,
        ``caseload``, ``setting`` (``"trial"``/``"routine"``), ``max_sessions``,
        ``not_percentile`` (expected-recovery boundary), ``threshold`` (``"match"`` or a
        risk in (0, 1)), ``time``, ``therapist`` (growth spec), ``draws``, ``tune``,
        ``chains``, ``max_draws`` (posterior draws the monitor uses), ``p_act``.
    rng : numpy.random.Generator
        The replication's generator.

    Returns
    -------
    list of dict
        ``method`` (``"fitted"``, ``"generating"`` or ``"tau"``), ``estimand``
        (``sensitivity``, ``specificity``, ``ppv``, ``flag_rate``, ``lead_time``,
        ``alerts_per_therapist``, ``failure_feedback``, ``failure_vs_tau``, and for the
        fitted monitor ``threshold`` and ``fitted_vs_generating_failure``), ``estimate``;
        ``tau`` has ``failure``.

    Examples
    --------
    A replication fits a growth model, so it runs in studies, not here; a condition is
    checked before any work:

    >>> rng = np.random.default_rng(1)
    >>> try:
    ...     monitor_study({"n_train": 200, "n_tset": 200}, rng)
    ... except ValueError as err:
    ...     print(str(err).split(";")[0])
    monitor study: unknown factor(s) ['n_tset']
    """
    from dataclasses import replace

    from simulations.clinic.config import ClinicConfig
    from simulations.clinic.monitors import ExpectedRecoveryMonitor, FittedModelMonitor
    from simulations.clinic.policies import Feedback
    from simulations.clinic.simulate import simulate
    from trajectories.fit import fit_growth
    from trajectories.spec import GrowthSpec

    check_factors("monitor study", condition, MONITOR_FACTORS)
    f = {**MONITOR_FACTORS, **condition}
    if f["setting"] not in ("trial", "routine"):
        raise ValueError(f"setting must be 'trial' or 'routine', got {f['setting']!r}")
    if f["threshold"] != "match":
        try:
            fixed = float(f["threshold"])
        except (TypeError, ValueError):
            fixed = float("nan")
        if not 0.0 < fixed < 1.0:  # refused before the growth model is fitted
            raise ValueError(f"threshold must be 'match' or a probability in (0, 1), got "
                             f"{f['threshold']!r}")
    make = ClinicConfig.routine if f["setting"] == "routine" else ClinicConfig

    def config(n: int) -> ClinicConfig:
        return make(n_patients=int(n), n_therapists=max(1, round(int(n) / float(f["caseload"]))),
                    max_sessions=int(f["max_sessions"]))

    train_cfg, test_cfg = config(f["n_train"]), config(f["n_test"])
    seed_train, seed_fit, seed_test = (int(rng.integers(2**31)) for _ in range(3))
    generating = ExpectedRecoveryMonitor(percentile=float(f["not_percentile"]))
    train = simulate(train_cfg, "tau", seed=seed_train, monitor=generating)
    spec = GrowthSpec(time=f["time"], therapist=f["therapist"])
    fit = fit_growth(spec, train.data, draws=int(f["draws"]), tune=int(f["tune"]),
                     chains=int(f["chains"]), seed=seed_fit)
    inst = train_cfg.instrument
    fitted = FittedModelMonitor(fit, max_draws=int(f["max_draws"])).bind(train_cfg)
    if f["threshold"] == "match":
        target = float(train.patients["ever_not"].mean())
        threshold = _match_threshold(fitted, _score_matrix(train.data, train_cfg.max_sessions),
                                     target, inst)
    else:
        threshold = float(f["threshold"])
    fitted = replace(fitted, threshold=threshold)
    feedback = Feedback() if f["p_act"] is None else Feedback(p_act=float(f["p_act"]))
    tau = simulate(test_cfg, "tau", seed=seed_test, keep_sessions=False)
    tau_fail = float(tau.patients["failure"].mean())
    rows: list[dict] = [{"method": "tau", "estimand": "failure", "estimate": tau_fail}]
    fail_fb = {}
    for name, mon in (("fitted", fitted), ("generating", generating)):
        base = simulate(test_cfg, "tau", seed=seed_test, monitor=mon, keep_sessions=False)
        oc = operating_characteristics(base.patients, test_cfg.n_therapists)
        fb = simulate(test_cfg, feedback, seed=seed_test, monitor=mon, keep_sessions=False)
        fail_fb[name] = fb.patients["failure"].to_numpy(bool)
        oc["failure_feedback"] = float(fail_fb[name].mean())
        oc["failure_vs_tau"] = oc["failure_feedback"] - tau_fail
        rows += [{"method": name, "estimand": k, "estimate": v} for k, v in oc.items()]
    rows.append({"method": "fitted", "estimand": "threshold", "estimate": threshold})
    rows.append({"method": "fitted", "estimand": "fitted_vs_generating_failure",
                 "estimate": float(fail_fb["fitted"].mean() - fail_fb["generating"].mean())})
    rows.append({"method": "fitted", "estimand": "fit_ok",
                 "estimate": float(fit.diagnostics.ok)})
    return rows


register_task("monitor_study", monitor_study, metrics=("mean", "empse"))
