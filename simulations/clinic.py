"""`simulate()`: therapy courses with alliance ruptures, informative dropout and policies.

The simulation is vectorised over patients and stepped over sessions; patients are processed
in chunks (default 100,000) so that memory stays bounded whatever the patient count.

Randomness: one :class:`numpy.random.SeedSequence` per run. Therapist effects, the
assignment of patients to therapists and each chunk get their own spawned child, and inside
a chunk every stochastic component (intake, course shocks, measurement error, alliance,
ruptures, repair, life events, therapists' decisions, dropout) draws from its own grandchild
stream the same number of variates every session whatever the policy does. Two policies run
with the same seed therefore see the same patients, therapists and noise: **common random
numbers**, which make paired policy comparisons precise. Results depend on ``chunk_size``
too (it fixes which stream a patient draws from); keep it when you rerun.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulations.config import TRAJECTORY_CLASSES, ClinicConfig
from simulations.engine import SESSION_TRUTH, Plan, run_chunk, therapist_effects
from simulations.monitors import ExpectedRecoveryMonitor, Monitor
from simulations.outcomes import patient_outcomes
from simulations.policies import (
    AllianceRepair,
    ClinicalSupport,
    CombinedPolicy,
    Feedback,
    Policy,
    Referral,
    as_combined,
)
from trajectories.data import TherapyData

__all__ = ["SimulatedClinic", "observed_scores", "simulate"]

DEFAULT_CHUNK = 100_000


@dataclass(frozen=True, eq=False)
class SimulatedClinic:
    """Result of :func:`simulate`.

    Attributes
    ----------
    config : ClinicConfig
    policy : CombinedPolicy
    seed : int or None
    data : TherapyData or None
        Observed long data (score, alliance rating, therapist, end status); ``None`` when
        ``keep_sessions=False``.
    sessions : pandas.DataFrame or None
        Hidden truth per attended session: latent score and alliance, rupture type
        (``none``/``withdrawal``/``confrontation``), whether it was repaired, alerts and actions.
    patients : pandas.DataFrame
        One row per patient: outcomes (end status, sessions attended, reliable change class,
        recovered, deteriorated, failure, ever not-on-track) and truth (latent intake and end
        score, trajectory class, change rate, risk factors).
    therapists : pandas.DataFrame
        One row per therapist: the true therapist effects and caseload.
    variates : dict
        Random variates drawn, ``{"normal": ..., "uniform": ...}`` (float32; for the
        benchmark's RNG bound).
    """

    config: ClinicConfig
    policy: CombinedPolicy
    seed: int | None
    data: TherapyData | None
    sessions: pd.DataFrame | None
    patients: pd.DataFrame
    therapists: pd.DataFrame
    variates: dict[str, int]

    @property
    def n_variates(self) -> int:
        """Total random variates drawn."""
        return sum(self.variates.values())


def _plan(config: ClinicConfig, policy: CombinedPolicy, monitor: Monitor | None) -> Plan:
    feedback = policy.get(Feedback)
    support = policy.get(ClinicalSupport)
    if support is not None and feedback is None:
        feedback = Feedback()
    referral = policy.get(Referral)
    if monitor is None:
        monitor = (feedback.monitor if feedback is not None  # type: ignore[union-attr]
                   else referral.monitor if referral is not None  # type: ignore[union-attr]
                   else ExpectedRecoveryMonitor())
    return Plan(feedback=feedback, support=support,  # type: ignore[arg-type]
                repair=policy.get(AllianceRepair), referral=referral,  # type: ignore[arg-type]
                monitor=monitor.bind(config))


def _streams(seed: int | None) -> tuple[np.random.SeedSequence, np.random.SeedSequence,
                                        np.random.SeedSequence]:
    root = np.random.SeedSequence(seed)
    therapist_ss, assign_ss, chunks_ss = root.spawn(3)
    return therapist_ss, assign_ss, chunks_ss


def _chunks(config: ClinicConfig, seed: int | None, chunk_size: int):
    """Yield (start, stop, chunk seed sequence); chunk i always gets spawn key (2, i)."""
    _, _, chunks_ss = _streams(seed)
    n = config.n_patients
    n_chunks = -(-n // chunk_size)
    for i, ss in enumerate(chunks_ss.spawn(n_chunks)):
        yield i * chunk_size, min(n, (i + 1) * chunk_size), ss


def _setup(config: ClinicConfig, seed: int | None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    therapist_ss, assign_ss, _ = _streams(seed)
    th = therapist_effects(config, np.random.default_rng(therapist_ss))
    # Random assignment with equal probability: caseloads vary as in routine services.
    th_of = np.random.default_rng(assign_ss).integers(
        0, config.n_therapists, config.n_patients, dtype=np.int32)
    return th, th_of


def simulate(
    config: ClinicConfig,
    policy: Policy | str = "tau",
    *,
    seed: int | None,
    monitor: Monitor | None = None,
    keep_sessions: bool = True,
    chunk_size: int = DEFAULT_CHUNK,
    progress: bool = False,
) -> SimulatedClinic:
    """Simulate a clinic under a policy.

    Parameters
    ----------
    config : ClinicConfig
        The service.
    policy : Policy or str
        A policy object (e.g. ``Feedback() + AllianceRepair()``) or a name such as
        ``"feedback+cst"``.
    seed : int or None
        Root seed; the same seed gives identical results, and the same patients, therapists
        and noise under every policy (common random numbers).
    monitor : Monitor, optional
        Who defines not-on-track status (and alerts, under feedback). Defaults to the
        policy's monitor, else :class:`ExpectedRecoveryMonitor`.
    keep_sessions : bool
        Build the observed long data and the per-session truth. ``False`` keeps only the
        per-patient table (for very large runs).
    chunk_size : int
        Patients simulated at once (memory is about 0.5 kB per patient of a chunk).
    progress : bool
        Show a progress bar over chunks.

    Returns
    -------
    SimulatedClinic

    Examples
    --------
    >>> from simulations import ClinicConfig, simulate
    >>> sim = simulate(ClinicConfig(n_patients=300, n_therapists=10), "feedback", seed=1)
    >>> sim.data.n_patients, sorted(sim.patients["end_status"].unique())
    (300, ['completed', 'dropout'])
    >>> again = simulate(ClinicConfig(n_patients=300, n_therapists=10), "feedback", seed=1)
    >>> again.patients.equals(sim.patients)
    True
    """
    if not isinstance(config, ClinicConfig):
        raise ValueError(f"config must be a ClinicConfig, got {type(config).__name__}")
    if not isinstance(chunk_size, int) or not 1 <= chunk_size <= 10_000_000:
        raise ValueError(f"chunk_size must be in [1, 10000000], got {chunk_size!r}")
    combined = as_combined(policy)
    plan = _plan(config, combined, monitor)
    th, th_of = _setup(config, seed)
    rows, sessions, variates = [], [], {"normal": 0, "uniform": 0}
    chunks = list(_chunks(config, seed, chunk_size))
    if progress:
        from tqdm.auto import tqdm

        chunks = tqdm(chunks, desc=f"simulate {combined.name}", unit="chunk")
    for start, stop, ss in chunks:
        out = run_chunk(config, plan, th, th_of[start:stop], ss, record=keep_sessions)
        for kind, count in out.variates.items():
            variates[kind] += count
        rows.append(patient_outcomes(config, out, first_id=start))
        if keep_sessions:
            sessions.append(_long(out, start))
    patients = pd.concat(rows, ignore_index=True) if len(rows) > 1 else rows[0]
    patients["trajectory_class"] = pd.Categorical.from_codes(
        patients["trajectory_class"].to_numpy(), categories=list(TRAJECTORY_CLASSES))
    therapists = pd.DataFrame({"therapist": np.arange(config.n_therapists), **th})
    therapists["n_patients"] = np.bincount(th_of, minlength=config.n_therapists)
    data = truth = None
    if keep_sessions:
        truth = pd.concat(sessions, ignore_index=True) if len(sessions) > 1 else sessions[0]
        data = _observed(config, truth, patients)
    return SimulatedClinic(config=config, policy=combined, seed=seed, data=data,
                           sessions=truth, patients=patients, therapists=therapists,
                           variates=variates)


def _long(out, first_id: int) -> pd.DataFrame:
    """Attended sessions of a chunk as a long frame (observed and hidden columns)."""
    n_sessions, n = out.obs.shape
    attended = np.arange(n_sessions)[None, :] <= out.last_session[:, None]
    pid, sess = np.nonzero(attended)
    frame = {"patient": (pid + first_id).astype(np.int64),
             "therapist": out.therapist[pid].astype(np.int64),
             "session": sess.astype(np.int64)}
    for name in ("score", "alliance", *SESSION_TRUTH):
        frame[name] = out.matrices[name][sess, pid]
    result = pd.DataFrame(frame)
    result["rupture"] = pd.Categorical.from_codes(
        result["rupture"].to_numpy().astype(np.int8),
        categories=["none", "withdrawal", "confrontation"])
    return result


def _observed(config: ClinicConfig, truth: pd.DataFrame, patients: pd.DataFrame) -> TherapyData:
    frame = truth[["patient", "therapist", "session", "score", "alliance"]].copy()
    status = patients.set_index("patient")["end_status"].astype(str)
    frame["end_status"] = status.reindex(frame["patient"]).to_numpy()
    return TherapyData.from_frame(
        frame, patient="patient", therapist="therapist", session="session", score="score",
        alliance="alliance", end_status="end_status", instrument=config.instrument)


def observed_scores(config: ClinicConfig, *, n_patients: int, seed: int) -> np.ndarray:
    """Observed scores under treatment as usual, shape (n_patients, max_sessions), NaN after
    the last attended session. Used to build expected recovery curves; no monitor runs.

    Examples
    --------
    >>> observed_scores(ClinicConfig(), n_patients=50, seed=3).shape
    (50, 20)
    """
    cfg = config.replace(n_patients=n_patients,
                         n_therapists=min(config.n_therapists, n_patients))
    plan = Plan(feedback=None, support=None, repair=None, referral=None, monitor=None)
    th, th_of = _setup(cfg, seed)
    parts = []
    for start, stop, ss in _chunks(cfg, seed, DEFAULT_CHUNK):
        out = run_chunk(cfg, plan, th, th_of[start:stop], ss, record=False)
        scores = out.obs.T.astype(float)
        scores[np.arange(scores.shape[1])[None, :] > out.last_session[:, None]] = np.nan
        parts.append(scores)
    return np.concatenate(parts)
