"""Built-in study tasks: the textbook t-interval study and the clinic policy study.

Both are registered by name (``task = "t_interval"``, ``task = "policy_study"`` in a study
TOML); see :mod:`simulations.tasks.registry` for what a task is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from simulations.tasks.registry import check_factors, register_task

__all__ = ["POLICY_FACTORS", "policy_study", "t_interval"]


def t_interval(condition: Mapping[str, Any], rng: np.random.Generator) -> list[dict]:
    """Estimate a population mean with the one-sample t-interval: the textbook study.

    Draws ``n`` observations from a distribution with mean 1 and SD 1 (``"normal"``, or the
    right-skewed ``"lognormal"``, or ``"exponential"``) and reports the sample mean, its
    standard error, the ``level`` t-interval and the p-value of the test of the true mean.
    Coverage falls below the nominal level for skewed data and small ``n``; the rejection
    rate is the test's type I error.

    Parameters
    ----------
    condition : Mapping
        ``n`` (sample size, >= 2); optional ``dist`` (default ``"normal"``) and ``level``
        (default 0.95).
    rng : numpy.random.Generator
        The replication's generator.

    Returns
    -------
    list of dict
        One row: ``method="t"``, ``estimand="mean"``, ``estimate``, ``truth``, ``se``,
        ``ci_low``, ``ci_high``, ``p_value``.

    Examples
    --------
    >>> rows = t_interval({"n": 30, "dist": "lognormal"}, np.random.default_rng(1))
    >>> rows[0]["truth"], rows[0]["ci_low"] < rows[0]["estimate"] < rows[0]["ci_high"]
    (1.0, True)
    """
    from scipy import stats

    n = int(condition["n"])
    dist = condition.get("dist", "normal")
    level = float(condition.get("level", 0.95))
    if n < 2:
        raise ValueError(f"n must be >= 2, got {n}")
    if dist == "normal":
        x = rng.normal(1.0, 1.0, size=n)
    elif dist == "lognormal":
        # log-normal with mean 1 and SD 1: sigma^2 = log 2, mu = -sigma^2 / 2
        s2 = np.log(2.0)
        x = rng.lognormal(-s2 / 2, np.sqrt(s2), size=n)
    elif dist == "exponential":
        x = rng.exponential(1.0, size=n)
    else:
        raise ValueError(f"dist must be 'normal', 'lognormal' or 'exponential', got {dist!r}")
    mean, se = float(x.mean()), float(x.std(ddof=1) / np.sqrt(n))
    q = float(stats.t.ppf(0.5 + level / 2, df=n - 1))
    p = float(2 * stats.t.sf(abs(mean - 1.0) / se, df=n - 1))
    return [{"method": "t", "estimand": "mean", "estimate": mean, "truth": 1.0, "se": se,
             "ci_low": mean - q * se, "ci_high": mean + q * se, "p_value": p}]


#: Factors the policy study understands, with their defaults.
POLICY_FACTORS: dict[str, Any] = {
    "policy": "feedback", "n_patients": 500, "caseload": 90, "setting": "trial",
    "max_sessions": 20, "p_act": None, "p_success": None, "not_percentile": None,
}


def policy_study(condition: Mapping[str, Any], rng: np.random.Generator) -> list[dict]:
    """Outcome rates of a clinic under a policy and under TAU, with common random numbers.

    Simulates the same clinic (same patients, therapists and noise: one seed drawn from
    ``rng``) under treatment as usual and under ``policy`` with
    :func:`simulations.compare_policies`, and reports each outcome rate with its 95%
    interval, for all patients and for the not-on-track (NOT) subgroup, and the paired
    difference from TAU. Intervals are cluster-robust by therapist with at least
    :data:`simulations.clinic.outcomes.MIN_CLUSTERS` therapists; with fewer (e.g. 400 patients at a
    caseload of 90) they treat patients as independent, and the replication records a
    ``FewClustersWarning`` in its ``warnings`` column.

    Parameters
    ----------
    condition : Mapping
        Factors, all optional: ``policy`` (a name such as ``"feedback+cst"``, default
        ``"feedback"``), ``n_patients`` (500), ``caseload`` (patients per therapist, 90:
        Saxon & Barkham 2012), ``setting`` (``"trial"`` or ``"routine"`` dropout),
        ``max_sessions`` (20), ``p_act`` (probability that a therapist acts on feedback;
        ignored by policies without feedback), ``p_success`` (alliance-repair success rate;
        ignored by policies without repair) and ``not_percentile`` (the NOT boundary of the
        expected-recovery monitor, e.g. 0.9). Leaving one out keeps the simulator's default.
    rng : numpy.random.Generator
        The replication's generator.

    Returns
    -------
    list of dict
        ``method`` (the policy, or ``"tau"``), ``estimand`` (an outcome such as
        ``"deteriorated"``, ``"dropout"``, ``"failure"``, ``"referred"``; suffix ``_not`` for
        the NOT subgroup; suffix ``_vs_tau`` for the paired difference from TAU),
        ``estimate``, ``ci_low``, ``ci_high`` and ``n_subgroup`` (patients in the subgroup).

    Raises
    ------
    ValueError
        For an unknown factor or an invalid level (e.g. an unknown policy part).

    Examples
    --------
    >>> rows = policy_study({"policy": "feedback", "n_patients": 400, "caseload": 20},
    ...                     np.random.default_rng(3))
    >>> sorted({r["method"] for r in rows}), rows[0]["estimand"]
    (['feedback', 'tau'], 'deteriorated')
    """
    from dataclasses import replace

    from simulations.clinic.compare import compare_policies
    from simulations.clinic.config import ClinicConfig
    from simulations.clinic.monitors import ExpectedRecoveryMonitor
    from simulations.clinic.policies import (
        AllianceRepair,
        ClinicalSupport,
        CombinedPolicy,
        Feedback,
        combine,
        policy_from_name,
    )

    check_factors("policy study", condition, POLICY_FACTORS)
    f = {**POLICY_FACTORS, **condition}
    policy: CombinedPolicy = policy_from_name(f["policy"])
    parts = list(policy.parts)
    # A parameter of a policy part the policy lacks is ignored, so that factors can be crossed
    # and the design's `where` keeps one level for the policies it does not apply to.
    feedback = policy.get(Feedback)
    if f["p_act"] is not None and (feedback or policy.get(ClinicalSupport)) is not None:
        parts = [p for p in parts if p is not feedback] + [
            replace(feedback or Feedback(), p_act=float(f["p_act"]))]
    repair = policy.get(AllianceRepair)
    if f["p_success"] is not None and repair is not None:
        parts = [p for p in parts if p is not repair] + [
            replace(repair, p_success=float(f["p_success"]))]
    policy = combine(*parts)
    n_patients = int(f["n_patients"])
    if f["setting"] not in ("trial", "routine"):
        raise ValueError(f"setting must be 'trial' or 'routine', got {f['setting']!r}")
    make = ClinicConfig.routine if f["setting"] == "routine" else ClinicConfig
    config = make(n_patients=n_patients,
                  n_therapists=max(1, round(n_patients / float(f["caseload"]))),
                  max_sessions=int(f["max_sessions"]))
    monitor = (None if f["not_percentile"] is None
               else ExpectedRecoveryMonitor(percentile=float(f["not_percentile"])))
    # one seed for both policies: common random numbers within the replication
    seed = int(rng.integers(0, 2**63 - 1))
    table = compare_policies(config, [policy], seed=seed, monitor=monitor)
    rows = []
    for r in table.itertuples(index=False):
        estimand = r.outcome + ("_not" if r.subgroup == "NOT" else "")
        rows.append({"method": r.policy, "estimand": estimand, "estimate": r.rate,
                     "ci_low": r.ci_low, "ci_high": r.ci_high, "n_subgroup": r.n})
        if r.policy != "tau":
            rows.append({"method": r.policy, "estimand": f"{estimand}_vs_tau",
                         "estimate": r.diff_vs_tau, "ci_low": r.diff_ci_low,
                         "ci_high": r.diff_ci_high, "n_subgroup": r.n})
    return rows


register_task("t_interval", t_interval,
              metrics=("bias", "empse", "rmse", "modse", "coverage", "rejection"))
register_task("policy_study", policy_study, metrics=("mean", "rejection"))
