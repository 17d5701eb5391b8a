"""Per-patient outcomes and outcome rates with Monte Carlo intervals.

Outcome categories are Jacobson & Truax (1991) classes of the observed intake and last
observed score (:func:`trajectories.clinical.classify_change`). **Failure** is deterioration,
dropout without reliable improvement, or no reliable change at the end; since dropouts
without reliable improvement are unchanged or deteriorated, failure is exactly "no reliable
improvement at the last observed session".

Intervals are Wald intervals with cluster-robust (by therapist) standard errors of ratio
estimators: patients of one therapist share the therapist's effects, so treating them as
independent would understate the Monte Carlo error of a population rate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from simulations.clinic.config import ClinicConfig
from simulations.clinic.engine import DOMAINS
from trajectories.clinical import CATEGORIES, classify_change

if TYPE_CHECKING:
    from simulations.clinic.engine import ChunkResult

__all__ = ["OUTCOMES", "patient_outcomes", "rate_table", "ratio_influence"]

#: Outcomes reported by :func:`rate_table` (booleans of the patient table).
OUTCOMES: tuple[str, ...] = ("deteriorated", "recovered", "reliably_improved", "failure",
                             "dropout", "referred", "ever_not")
END_CATEGORIES = ["completed", "dropout", "referred"]
Z95 = 1.959964


def patient_outcomes(config: ClinicConfig, out: ChunkResult, *, first_id: int = 0) -> pd.DataFrame:
    """One row per patient of a chunk: outcomes, then the hidden truth."""
    inst = config.instrument
    p = out.patient
    n = len(out.therapist)
    change_class = classify_change(p["intake"], p["final"], instrument=inst)
    codes = np.full(n, -1, np.int8)  # category codes by comparison: cheaper than a lookup
    for code, category in enumerate(CATEGORIES):
        codes[change_class == category] = code
    klass = pd.Categorical.from_codes(codes, categories=list(CATEGORIES))
    improved = codes <= CATEGORIES.index("improved")
    improved &= codes >= 0
    deteriorated = codes == CATEGORIES.index("deteriorated")
    dropout = out.end == 1
    sign = 1.0 if inst.higher_is_worse else -1.0
    frame = {
        "patient": np.arange(first_id, first_id + n, dtype=np.int64),
        "therapist": out.therapist.astype(np.int64),
        "end_status": pd.Categorical.from_codes(out.end, categories=END_CATEGORIES),
        "n_sessions": out.last_session.astype(np.int64) + 1,
        "intake": p["intake"].astype(float),
        "final": p["final"].astype(float),
        "improvement": sign * (p["intake"].astype(float) - p["final"].astype(float)),
        "change_class": klass,
        "recovered": codes == CATEGORIES.index("recovered"),
        "reliably_improved": improved,
        "deteriorated": deteriorated,
        "failure": ~improved,
        "dropout": dropout,
        "referred": out.end == 2,
        "intake_case": (p["intake"] >= inst.cutoff) if inst.higher_is_worse
        else (p["intake"] <= inst.cutoff),
        "cst_domain": pd.Categorical.from_codes(p["cst_domain"], categories=list(DOMAINS)),
    }
    for key in ("ever_not", "first_not_session", "acted", "first_action_session", "n_ruptures",
                "n_repaired", "early_alliance", "latent_intake", "latent_final",
                "trajectory_class", "change_rate", "low_readiness", "comorbidity",
                "prior_negative_therapy", "external_stress", "sudden_gain", "planned_sessions",
                "alliance_level", "dropout_frailty"):
        value = p[key]
        frame[key] = value.astype(float) if value.dtype == np.float32 else value
    return pd.DataFrame(frame)


def ratio_influence(y: np.ndarray, member: np.ndarray) -> tuple[float, np.ndarray]:
    """Rate of ``y`` among ``member`` patients and each patient's linearised influence.

    The rate is ``sum(member * y) / sum(member)``; its influence values ``phi`` satisfy
    ``rate - truth ~ mean(phi)``, so sums of ``phi`` within clusters give a cluster-robust
    variance, and differences of ``phi`` between paired runs give the variance of a paired
    difference (delta method).
    """
    m = member.astype(float)
    share = m.mean()
    if share == 0:
        return float("nan"), np.zeros_like(m)
    rate = float((m * y).sum() / m.sum())
    return rate, m * (y - rate) / share


def cluster_se(phi: np.ndarray, cluster: np.ndarray) -> float:
    """Cluster-robust standard error of ``mean(phi)``."""
    sums = np.bincount(cluster, weights=phi)
    n = len(phi)
    k = np.count_nonzero(np.bincount(cluster))
    correction = k / (k - 1) if k > 1 else 1.0
    return float(np.sqrt(correction * np.sum(sums**2)) / n)


def rate_table(patients: pd.DataFrame, *, outcomes: tuple[str, ...] = OUTCOMES) -> pd.DataFrame:
    """Outcome rates overall and in the not-on-track subgroup, with 95% intervals.

    Parameters
    ----------
    patients : pandas.DataFrame
        ``SimulatedClinic.patients``.
    outcomes : tuple of str
        Boolean columns to summarise.

    Returns
    -------
    pandas.DataFrame
        ``subgroup`` (``all`` or ``NOT``), ``outcome``, ``n``, ``rate``, ``ci_low``,
        ``ci_high``.

    Examples
    --------
    >>> from simulations import ClinicConfig, simulate
    >>> sim = simulate(ClinicConfig(n_patients=400, n_therapists=8), seed=2, keep_sessions=False)
    >>> table = rate_table(sim.patients)
    >>> table.columns.tolist()
    ['subgroup', 'outcome', 'n', 'rate', 'ci_low', 'ci_high']
    >>> bool((table["ci_low"] <= table["rate"]).all())
    True
    """
    cluster = patients["therapist"].to_numpy()
    rows = []
    for subgroup, member in (("all", np.ones(len(patients), bool)),
                             ("NOT", patients["ever_not"].to_numpy())):
        for outcome in outcomes:
            if subgroup == "NOT" and outcome == "ever_not":
                continue
            rate, phi = ratio_influence(patients[outcome].to_numpy().astype(float), member)
            se = cluster_se(phi, cluster)
            rows.append({"subgroup": subgroup, "outcome": outcome, "n": int(member.sum()),
                         "rate": rate, "ci_low": rate - Z95 * se, "ci_high": rate + Z95 * se})
    return pd.DataFrame(rows)


def summary(patients: pd.DataFrame) -> dict[str, object]:
    """Headline numbers of a run as plain values (for ``summary.json``)."""
    table = rate_table(patients)
    return {
        "n_patients": len(patients),
        "mean_sessions": float(patients["n_sessions"].mean()),
        "end_status": {k: int(v) for k, v in
                       patients["end_status"].value_counts().sort_index().items()},
        "rates": table.to_dict(orient="records"),
    }
