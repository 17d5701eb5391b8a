"""Per-patient outcomes and outcome rates with Monte Carlo intervals.

Outcome categories are Jacobson & Truax (1991) classes of the observed intake and last
observed score (:func:`trajectories.clinical.classify_change`). **Failure** is deterioration,
dropout without reliable improvement, or no reliable change at the end; since dropouts
without reliable improvement are unchanged or deteriorated, failure is exactly "no reliable
improvement at the last observed session". The same classes at the common horizon (the
follow-up assessment of every patient, whatever ended their treatment) are the ``*_horizon``
outcomes: they compare a continued treatment with one ended and referred on the same outcome
at the same time.

Intervals are Wald intervals with cluster-robust (by therapist) standard errors of ratio
estimators: patients of one therapist share the therapist's effects, so treating them as
independent would understate the Monte Carlo error of a population rate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from simulations.clinic.config import ClinicConfig
from trajectories.clinical import CATEGORIES, classify_change

if TYPE_CHECKING:
    from simulations.clinic.engine import ChunkResult

__all__ = ["HORIZON_OUTCOMES", "OUTCOMES", "RATIOS", "patient_outcomes", "rate_table",
           "ratio_influence"]

#: Outcomes at the common horizon (booleans of the patient table).
HORIZON_OUTCOMES: tuple[str, ...] = ("deteriorated_horizon", "recovered_horizon",
                                     "reliably_improved_horizon", "failure_horizon")
#: Outcomes reported by :func:`rate_table` (booleans of the patient table).
OUTCOMES: tuple[str, ...] = ("deteriorated", "recovered", "reliably_improved", "failure",
                             "dropout", "referred", "ever_not", *HORIZON_OUTCOMES)
#: Shares of events rather than of patients: name -> (numerator, denominator) columns.
RATIOS: dict[str, tuple[str, str]] = {
    "ruptures_resolved": ("n_repaired", "n_ruptures"),
    "ruptures_noticed": ("n_noticed", "n_ruptures"),
}
END_CATEGORIES = ["completed", "dropout", "referred"]
Z95 = 1.959964


def _classes(intake: np.ndarray, score: np.ndarray, inst) -> tuple[pd.Categorical, np.ndarray]:
    change_class = classify_change(intake, score, instrument=inst)
    codes = np.full(len(intake), -1, np.int8)  # category codes by comparison: cheaper
    for code, category in enumerate(CATEGORIES):
        codes[change_class == category] = code
    return pd.Categorical.from_codes(codes, categories=list(CATEGORIES)), codes


def patient_outcomes(config: ClinicConfig, out: ChunkResult, *, first_id: int = 0) -> pd.DataFrame:
    """One row per patient of a chunk: outcomes at the end of treatment and at the horizon,
    then the service's responses, process and client factors, the hidden truth and the
    columns policies added."""
    inst = config.instrument
    p = dict(out.patient)
    n = len(out.therapist)
    intake, final, horizon = (p.pop(k).astype(float) for k in ("intake", "final",
                                                                "score_horizon"))
    klass, codes = _classes(intake, final, inst)
    klass_h, codes_h = _classes(intake, horizon, inst)
    improved = (codes >= 0) & (codes <= CATEGORIES.index("improved"))
    improved_h = (codes_h >= 0) & (codes_h <= CATEGORIES.index("improved"))
    sign = 1.0 if inst.higher_is_worse else -1.0
    recovered, deteriorated = CATEGORIES.index("recovered"), CATEGORIES.index("deteriorated")
    frame = {
        "patient": np.arange(first_id, first_id + n, dtype=np.int64),
        "therapist": out.therapist.astype(np.int64),
        "end_status": pd.Categorical.from_codes(out.end, categories=END_CATEGORIES),
        "n_sessions": out.last_session.astype(np.int64) + 1,
        "intake": intake, "final": final, "improvement": sign * (intake - final),
        "change_class": klass,
        "recovered": codes == recovered, "reliably_improved": improved,
        "deteriorated": codes == deteriorated, "failure": ~improved,
        "dropout": out.end == 1, "referred": out.end == 2,
        "intake_case": (intake >= inst.cutoff) if inst.higher_is_worse
        else (intake <= inst.cutoff),
        "score_horizon": horizon, "change_class_horizon": klass_h,
        "recovered_horizon": codes_h == recovered, "reliably_improved_horizon": improved_h,
        "deteriorated_horizon": codes_h == deteriorated, "failure_horizon": ~improved_h,
    }
    for key, value in p.items():
        frame[key] = value.astype(float) if value.dtype == np.float32 else value
    return pd.DataFrame(frame, copy=False)


def ratio_influence(y: np.ndarray, member: np.ndarray) -> tuple[float, np.ndarray]:
    """Rate of ``y`` among ``member`` patients and each patient's linearised influence.

    The rate is ``sum(member * y) / sum(member)``; its influence values ``phi`` satisfy
    ``rate - truth ~ mean(phi)``, so sums of ``phi`` within clusters give a cluster-robust
    variance, and differences of ``phi`` between paired runs give the variance of a paired
    difference (delta method). ``member`` may be a count (a share of events: ``y`` is then
    each patient's share, ``member`` their number of events).
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


def event_share(patients: pd.DataFrame, ratio: str,
                member: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(y, weights) for :func:`ratio_influence` of a share of events in :data:`RATIOS`
    (e.g. ruptures resolved: ``sum(n_repaired) / sum(n_ruptures)``), among ``member``."""
    num, den = RATIOS[ratio]
    weights = patients[den].to_numpy().astype(float)
    if member is not None:
        weights = weights * member
    y = np.divide(patients[num].to_numpy().astype(float), patients[den].to_numpy(),
                  out=np.zeros(len(patients)), where=patients[den].to_numpy() > 0)
    return y, weights
