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

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulations.clinic.config import TRAJECTORY_CLASSES, ClinicConfig
from simulations.clinic.engine import SESSION_TRUTH, Plan, run_chunk, therapist_effects
from simulations.clinic.monitors import ExpectedRecoveryMonitor, Monitor
from simulations.clinic.outcomes import patient_outcomes
from simulations.clinic.policies import (
    AllianceRepair,
    ClinicalSupport,
    CombinedPolicy,
    Feedback,
    Policy,
    Referral,
    as_combined,
)
from trajectories.data import TherapyData
from trajectories.instruments import Instrument

__all__ = ["ClinicChunk", "SimulatedClinic", "observed_scores", "simulate", "simulate_chunks"]

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
        recovered, deteriorated, failure, ever not-on-track, first alert and action, CST
        domain, ruptures and repairs) and truth (latent intake and end score, trajectory
        class, change rate including the therapist's effect, risk factors, planned sessions,
        starting alliance level, dropout frailty).
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

    def __repr__(self) -> str:
        p = self.patients
        status = ", ".join(f"{n} {s}" for s, n in p["end_status"].value_counts().items() if n)
        rates = ", ".join(f"{col} {p[col].mean():.1%}"
                          for col in ("recovered", "deteriorated", "failure") if col in p)
        scores = "" if self.data is None else f", {self.data.n_observations} scores"
        return (f"SimulatedClinic(policy {self.policy.name}, seed {self.seed}: "
                f"{len(p)} patients of {len(self.therapists)} therapists{scores}; {status}; "
                f"{rates})")


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


@dataclass(frozen=True, eq=False)
class ClinicChunk:
    """One chunk of a run from :func:`simulate_chunks`.

    Attributes
    ----------
    patients : pandas.DataFrame
        Per-patient outcomes and truth of the chunk's patients (as ``SimulatedClinic.patients``).
    sessions : pandas.DataFrame or None
        Their attended sessions: observed columns, hidden truth and ``end_status``.
    variates : dict
        Random variates the chunk drew.
    instrument : Instrument
        The outcome measure.
    """

    patients: pd.DataFrame
    sessions: pd.DataFrame | None
    variates: dict[str, int]
    instrument: Instrument

    def observed(self) -> TherapyData:
        """The chunk's observed long data, validated."""
        if self.sessions is None:
            raise ValueError("observed: the run had keep_sessions=False")
        return _observed(self.sessions, self.instrument)


def simulate_chunks(
    config: ClinicConfig,
    policy: Policy | str = "tau",
    *,
    seed: int | None,
    monitor: Monitor | None = None,
    keep_sessions: bool = True,
    chunk_size: int = DEFAULT_CHUNK,
    progress: bool = False,
) -> Iterator[ClinicChunk]:
    """Simulate chunk by chunk, yielding each chunk's patients and sessions.

    The same run as :func:`simulate` (same arguments, same results), for writing very large
    runs to disk with memory bounded by one chunk. Arguments are validated before the first
    chunk is simulated.

    Examples
    --------
    >>> cfg = ClinicConfig(n_patients=250, n_therapists=5)
    >>> chunks = list(simulate_chunks(cfg, "feedback", seed=1, chunk_size=100))
    >>> [len(c.patients) for c in chunks]
    [100, 100, 50]
    >>> whole = simulate(cfg, "feedback", seed=1, chunk_size=100).patients
    >>> pd.concat([c.patients for c in chunks], ignore_index=True).equals(whole)
    True
    """
    if not isinstance(config, ClinicConfig):
        raise ValueError(f"config must be a ClinicConfig, got {type(config).__name__}")
    if not isinstance(chunk_size, int) or not 1 <= chunk_size <= 10_000_000:
        raise ValueError(f"chunk_size must be in [1, 10000000], got {chunk_size!r}")
    combined = as_combined(policy)
    plan = _plan(config, combined, monitor)
    return _generate(config, plan, combined.name, seed, keep_sessions, chunk_size, progress)


def _generate(config: ClinicConfig, plan: Plan, name: str, seed: int | None,
              keep_sessions: bool, chunk_size: int, progress: bool) -> Iterator[ClinicChunk]:
    th, th_of = _setup(config, seed)
    chunks = list(_chunks(config, seed, chunk_size))
    if progress and len(chunks) > 1:
        from tqdm.auto import tqdm

        chunks = tqdm(chunks, desc=f"simulate {name}", unit="chunk")
    for start, stop, ss in chunks:
        out = run_chunk(config, plan, th, th_of[start:stop], ss, record=keep_sessions)
        patients = patient_outcomes(config, out, first_id=start)
        patients["trajectory_class"] = pd.Categorical.from_codes(
            patients["trajectory_class"].to_numpy(), categories=list(TRAJECTORY_CLASSES))
        sessions = None
        if keep_sessions:
            sessions = _long(out, start)
            sessions["end_status"] = patients["end_status"].to_numpy()[
                sessions["patient"].to_numpy() - start]
        yield ClinicChunk(patients=patients, sessions=sessions, variates=out.variates,
                          instrument=config.instrument)  # type: ignore[arg-type]


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
        per-patient table (for very large runs; see also :func:`simulate_chunks`).
    chunk_size : int
        Patients simulated at once (working memory is about 0.5 kB per patient of a chunk).
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
    chunks = list(simulate_chunks(config, policy, seed=seed, monitor=monitor,
                                  keep_sessions=keep_sessions, chunk_size=chunk_size,
                                  progress=progress))
    variates = {"normal": 0, "uniform": 0}
    for chunk in chunks:
        for kind, count in chunk.variates.items():
            variates[kind] += count
    patients = _concat([c.patients for c in chunks])
    th, th_of = _setup(config, seed)
    therapists = pd.DataFrame({"therapist": np.arange(config.n_therapists), **th})
    therapists["n_patients"] = np.bincount(th_of, minlength=config.n_therapists)
    data = truth = None
    if keep_sessions:
        truth = _concat([c.sessions for c in chunks])
        data = _observed(truth, config.instrument)  # type: ignore[arg-type]
        truth = truth.drop(columns="end_status")
    return SimulatedClinic(config=config, policy=as_combined(policy), seed=seed, data=data,
                           sessions=truth, patients=patients, therapists=therapists,
                           variates=variates)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


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


def _observed(sessions: pd.DataFrame, instrument: Instrument) -> TherapyData:
    """Observed long data (score, alliance rating, end status) as validated TherapyData."""
    columns = ["patient", "therapist", "session", "score", "alliance", "end_status"]
    frame = sessions[columns].copy()
    frame["end_status"] = frame["end_status"].astype(str)
    return TherapyData.from_frame(
        frame, patient="patient", therapist="therapist", session="session", score="score",
        alliance="alliance", end_status="end_status", instrument=instrument)


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
