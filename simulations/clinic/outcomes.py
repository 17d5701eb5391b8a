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
independent would understate the Monte Carlo error of a population rate. The CR1 sandwich
needs many clusters: with few it is too narrow (Cameron & Miller 2015, *J Hum Resour*
50(2):317-372, section VI), and with one it is exactly zero. With fewer than
:data:`MIN_CLUSTERS` therapists the tables therefore fall back, with a
:class:`FewClustersWarning`, to intervals that treat patients as independent: the Wilson
score interval for a rate and the paired (delta-method) Wald interval for a difference
between policies. They describe the simulated therapists' own patients and understate the
uncertainty about a service with other therapists; the ``interval`` column says which
interval each row has.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from simulations.clinic.config import ClinicConfig
from trajectories.clinical import CATEGORIES, classify_change

if TYPE_CHECKING:
    from simulations.clinic.engine import ChunkResult

__all__ = ["HORIZON_OUTCOMES", "MIN_CLUSTERS", "OUTCOMES", "RATIOS", "FewClustersWarning",
           "cluster_se", "interval_method", "patient_outcomes", "rate_interval", "rate_table",
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
#: Fewest therapists (clusters) for a cluster-robust interval. [assumed] A rule of thumb, not
#: a published cut-off: Cameron & Miller (2015) show CR1 Wald tests over-rejecting with
#: "few" clusters, which in their simulations means fewer than about 20 to 50; 20 keeps the
#: default clinic (2,000 patients, 22 therapists) cluster-robust.
MIN_CLUSTERS = 20


class FewClustersWarning(UserWarning):
    """Too few therapists for a cluster-robust interval: patients are treated as independent.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     method = interval_method(np.array([0, 0, 1, 1, 2]))  # 3 therapists
    >>> method, caught[0].category is FewClustersWarning
    ('independent', True)
    """


def few_clusters_note(n_clusters: int) -> str:
    """Say which interval replaced the cluster-robust one, and why (one sentence)."""
    return (f"only {n_clusters} therapist{'s' if n_clusters != 1 else ''}: cluster-robust "
            f"intervals need at least {MIN_CLUSTERS} (with few clusters they are too narrow, "
            "with one they have zero width; Cameron & Miller 2015), so rates have Wilson "
            "intervals and differences paired intervals that treat patients as independent; "
            "they understate the uncertainty about other therapists. Simulate at least "
            f"{MIN_CLUSTERS} therapists for intervals over therapists")


def _classes(intake: np.ndarray, score: np.ndarray, inst) -> tuple[pd.Categorical, np.ndarray]:
    change_class = classify_change(intake, score, instrument=inst)
    codes = np.full(len(intake), -1, np.int8)  # category codes by comparison: cheaper
    for code, category in enumerate(CATEGORIES):
        codes[change_class == category] = code
    return pd.Categorical.from_codes(codes, categories=list(CATEGORIES)), codes


def patient_outcomes(config: ClinicConfig, out: ChunkResult, *, first_id: int = 0) -> pd.DataFrame:
    """Tabulate one row per patient of a chunk.

    Outcomes at the end of treatment and at the horizon, then the service's responses, process and
    client factors, the hidden truth and the columns policies added.

    Examples
    --------
    >>> from simulations.clinic.engine import chunk_seeds, run_chunk, setup
    >>> cfg = ClinicConfig(n_patients=50, n_therapists=5)
    >>> th, th_of = setup(cfg, seed=1)
    >>> _, _, ss = next(chunk_seeds(cfg, 1, 50))
    >>> table = patient_outcomes(cfg, run_chunk(cfg, [], th, th_of, ss), first_id=100)
    >>> len(table), int(table["patient"].iloc[0]), list(table.columns[:4])
    (50, 100, ['patient', 'therapist', 'end_status', 'n_sessions'])
    """
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

    Examples
    --------
    >>> rate, phi = ratio_influence(np.array([1.0, 0.0, 1.0, 1.0]), np.array([1, 1, 1, 0]))
    >>> round(rate, 4), phi.round(4).tolist()  # 2 of the 3 members; phi averages to 0
    (0.6667, [0.4444, -0.8889, 0.4444, 0.0])
    """
    m = member.astype(float)
    share = m.mean()
    if share == 0:
        return float("nan"), np.zeros_like(m)
    rate = float((m * y).sum() / m.sum())
    return rate, m * (y - rate) / share


def cluster_se(phi: np.ndarray, cluster: np.ndarray, *,
               min_clusters: int = MIN_CLUSTERS) -> float:
    """Cluster-robust (CR1) standard error of ``mean(phi)``.

    Raises
    ------
    ValueError
        With fewer than ``min_clusters`` distinct clusters (default :data:`MIN_CLUSTERS`),
        where the sandwich is too small (zero with one cluster). ``min_clusters=2`` with one
        cluster per observation gives the ordinary (independent) standard error.

    Examples
    --------
    >>> phi = np.array([1.0, -1.0, 0.5, -0.5])
    >>> round(cluster_se(phi, np.arange(4), min_clusters=2), 4)  # sd(phi) / sqrt(n)
    0.4564
    """
    k = int(np.count_nonzero(np.bincount(cluster)))
    if k < max(min_clusters, 2):
        raise ValueError(f"the cluster-robust standard error needs at least "
                         f"{max(min_clusters, 2)} clusters, got {k}")
    sums = np.bincount(cluster, weights=phi)
    return float(np.sqrt(k / (k - 1) * np.sum(sums**2)) / len(phi))


def interval_method(cluster: np.ndarray) -> str:
    """Choose the interval method for ``n_clusters`` clusters.

    ``"cluster-robust"`` with at least :data:`MIN_CLUSTERS` clusters, else ``"independent"`` after a
    :class:`FewClustersWarning` (the tables call it once each).

    Examples
    --------
    >>> interval_method(np.repeat(np.arange(20), 5))  # 20 therapists
    'cluster-robust'
    """
    k = int(np.count_nonzero(np.bincount(cluster)))
    if k >= MIN_CLUSTERS:
        return "cluster-robust"
    warnings.warn(few_clusters_note(k), FewClustersWarning, stacklevel=3)
    return "independent"


def rate_interval(y: np.ndarray, member: np.ndarray, cluster: np.ndarray,
                  method: str) -> tuple[float, float, float, np.ndarray]:
    """Rate of a 0/1 outcome among ``member`` patients, its 95% interval and influence.

    ``method`` (from :func:`interval_method`): ``"cluster-robust"`` gives the Wald interval
    with the CR1 standard error by ``cluster``; ``"independent"`` the Wilson score interval
    (statsmodels' ``proportion_confint``), which never has zero width.

    Returns
    -------
    (rate, low, high, phi)
        ``phi`` are the influence values of :func:`ratio_influence`.

    Examples
    --------
    >>> y = np.array([1.0, 0, 0, 0, 0])
    >>> [round(v, 3) for v in rate_interval(y, np.ones(5, bool), np.zeros(5, int),
    ...                                     "independent")[:3]]
    [0.2, 0.036, 0.624]
    """
    rate, phi = ratio_influence(y, member)
    if method == "cluster-robust":
        se = cluster_se(phi, cluster)
        return rate, rate - Z95 * se, rate + Z95 * se, phi
    n = int(member.sum())
    if n == 0:
        return rate, float("nan"), float("nan"), phi
    # imported here: it loads scipy.stats (0.6 s), which runs with >= 20 therapists never need
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(float((member * y).sum()), n, alpha=0.05, method="wilson")
    return rate, float(low), float(high), phi


def difference_se(phi_difference: np.ndarray, cluster: np.ndarray, method: str) -> float:
    """Compute the standard error of a paired difference of rates from the difference of influences.

    Cluster-robust, or with each patient independent (``method="independent"``).
    """
    if method == "cluster-robust":
        return cluster_se(phi_difference, cluster)
    return cluster_se(phi_difference, np.arange(len(phi_difference)), min_clusters=2)


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
        ``ci_high`` and ``interval``: ``"cluster-robust"`` (by therapist), or
        ``"independent"`` (Wilson) with fewer than :data:`MIN_CLUSTERS` therapists, which
        also warns (:class:`FewClustersWarning`).

    Examples
    --------
    >>> from simulations import ClinicConfig, simulate
    >>> sim = simulate(ClinicConfig(n_patients=400, n_therapists=20), seed=2,
    ...                keep_sessions=False)
    >>> table = rate_table(sim.patients)
    >>> table.columns.tolist()
    ['subgroup', 'outcome', 'n', 'rate', 'ci_low', 'ci_high', 'interval']
    >>> bool((table["ci_low"] <= table["rate"]).all()), table["interval"].iloc[0]
    (True, 'cluster-robust')
    """
    cluster = patients["therapist"].to_numpy()
    method = interval_method(cluster)
    rows = []
    for subgroup, member in (("all", np.ones(len(patients), bool)),
                             ("NOT", patients["ever_not"].to_numpy())):
        for outcome in outcomes:
            if subgroup == "NOT" and outcome == "ever_not":
                continue
            rate, low, high, _ = rate_interval(patients[outcome].to_numpy().astype(float),
                                               member, cluster, method)
            rows.append({"subgroup": subgroup, "outcome": outcome, "n": int(member.sum()),
                         "rate": rate, "ci_low": low, "ci_high": high, "interval": method})
    return pd.DataFrame(rows)


def summary(patients: pd.DataFrame) -> dict[str, object]:
    """Headline numbers of a run as plain values (for ``summary.json``)."""
    table = rate_table(patients)
    return {
        "n_patients": len(patients),
        "n_therapists": int(patients["therapist"].nunique()),
        "mean_sessions": float(patients["n_sessions"].mean()),
        "end_status": {k: int(v) for k, v in
                       patients["end_status"].value_counts().sort_index().items()},
        "rates": table.to_dict(orient="records"),
    }


def event_share(patients: pd.DataFrame, ratio: str,
                member: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return (y, weights) for :func:`ratio_influence` of a share of events in :data:`RATIOS`.

    For example ruptures resolved: ``sum(n_repaired) / sum(n_ruptures)``, among ``member``.
    """
    num, den = RATIOS[ratio]
    weights = patients[den].to_numpy().astype(float)
    if member is not None:
        weights = weights * member
    y = np.divide(patients[num].to_numpy().astype(float), patients[den].to_numpy(),
                  out=np.zeros(len(patients)), where=patients[den].to_numpy() > 0)
    return y, weights
