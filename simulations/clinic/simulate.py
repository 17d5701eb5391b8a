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
from simulations.clinic.engine import chunk_seeds, run_chunk, setup
from simulations.clinic.monitors import Monitor
from simulations.clinic.outcomes import patient_outcomes
from simulations.clinic.policies import CombinedPolicy, Policy, as_combined
from simulations.clinic.reference import observed_scores
from simulations.clinic.state import RUPTURE_TYPES, SESSION_TRUTH
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
    seed : int
        The root seed used (drawn when none was given).
    data : TherapyData or None
        Observed long data (score, alliance rating, therapist, end status); ``None`` when
        ``keep_sessions=False``.
    sessions : pandas.DataFrame or None
        Hidden truth per attended session: latent score and alliance, rupture type
        (``none``/``withdrawal``/``confrontation``), whether the therapist noticed it and
        whether it was resolved, alerts and actions.
    patients : pandas.DataFrame
        One row per patient (see :func:`~simulations.clinic.outcomes.patient_outcomes`):
        outcomes at the end of treatment and at the common horizon (end status, sessions,
        reliable change class, recovered, deteriorated, failure), the service's responses
        (not-on-track alerts, actions, targeted domains, ladder rung, referral), process
        factors (ruptures of each type, noticed, resolved, early alliance), client and
        external factors (low readiness, comorbidity, earlier negative therapy, external
        stress), hidden truth (latent scores, trajectory class, change rates, alliance level,
        dropout frailty) and any column a policy adds.
    therapists : pandas.DataFrame
        One row per therapist: the true therapist factors
        (:data:`~simulations.clinic.patients.THERAPIST_FACTORS`: effects on change, caseload
        severity, alliance skill, dropout, responsiveness to feedback, rupture noticing and
        repair skill, contribution to ruptures, overrating of their own effectiveness) and the
        caseload.
    variates : dict
        Random variates drawn, ``{"normal": ..., "uniform": ...}`` (float32; for the
        benchmark's RNG bound).

    Examples
    --------
    >>> run = simulate(ClinicConfig(n_patients=40, n_therapists=4), "tau", seed=1)
    >>> isinstance(run, SimulatedClinic), run.seed, len(run.patients)
    (True, 1, 40)
    >>> run.data  # doctest: +ELLIPSIS
    TherapyData(40 patients, 4 therapists, ... scores of PHQ-9 at sessions 0-19; ...)
    """

    config: ClinicConfig
    policy: CombinedPolicy
    seed: int
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

    Examples
    --------
    >>> cfg = ClinicConfig(n_patients=30, n_therapists=3)
    >>> chunk = next(simulate_chunks(cfg, "tau", seed=1, chunk_size=20))
    >>> isinstance(chunk, ClinicChunk), len(chunk.patients), chunk.instrument.key
    (True, 20, 'phq9')
    """

    patients: pd.DataFrame
    sessions: pd.DataFrame | None
    variates: dict[str, int]
    instrument: Instrument

    def observed(self) -> TherapyData:
        """Return the chunk's observed long data, validated."""
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
    truth: bool = True,
) -> Iterator[ClinicChunk]:
    """Simulate chunk by chunk, yielding each chunk's patients and sessions.

    The same run as :func:`simulate` (same arguments, same results), for writing very large
    runs to disk with memory bounded by one chunk. Arguments are validated before the first
    chunk is simulated. ``truth=False`` leaves the hidden per-session columns out of
    ``ClinicChunk.sessions`` (the observed columns only: faster, for writing data sets).

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
    return _start(config, policy, seed, monitor, keep_sessions, chunk_size, progress, truth)[1]


def _start(config: ClinicConfig, policy: Policy | str, seed: int | None,
           monitor: Monitor | None, keep_sessions: bool, chunk_size: int, progress: bool,
           truth: bool) -> tuple[tuple[int, dict[str, np.ndarray], np.ndarray],
                                 Iterator[ClinicChunk]]:
    """Validate, draw the therapists once; return (seed, therapists, assignment) and chunks."""
    if not isinstance(config, ClinicConfig):
        raise ValueError(f"config must be a ClinicConfig, got {type(config).__name__}")
    if not isinstance(chunk_size, int) or not 1 <= chunk_size <= 10_000_000:
        raise ValueError(f"chunk_size must be in [1, 10000000], got {chunk_size!r}")
    combined = as_combined(policy)
    components = combined.components(config, monitor)
    record = "none" if not keep_sessions else "truth" if truth else "observed"
    seed = _seed(seed)
    th, th_of = setup(config, seed)
    return (seed, th, th_of), _generate(config, components, combined.name, seed, th, th_of,
                                        record, chunk_size, progress)


def _seed(seed: int | None) -> int:
    """Return the given seed, or one drawn from fresh entropy (the run records it).

    Drawn once per run, so that the therapists, their patients and every chunk come from the
    same root (with ``None`` passed on, each ``SeedSequence(None)`` would draw its own).
    """
    return int(np.random.SeedSequence().generate_state(1)[0]) if seed is None else seed


def _generate(config: ClinicConfig, components: list[Policy], name: str, seed: int,
              th: dict[str, np.ndarray], th_of: np.ndarray, record: str, chunk_size: int,
              progress: bool) -> Iterator[ClinicChunk]:
    chunks = list(chunk_seeds(config, seed, chunk_size))
    if progress and len(chunks) > 1:
        from tqdm.auto import tqdm

        chunks = tqdm(chunks, desc=f"simulate {name}", unit="chunk")
    for start, stop, ss in chunks:
        out = run_chunk(config, components, th, th_of[start:stop], ss,
                        record=record)  # type: ignore[arg-type]
        patients = patient_outcomes(config, out, first_id=start)
        patients["trajectory_class"] = pd.Categorical.from_codes(
            patients["trajectory_class"].to_numpy(), categories=list(TRAJECTORY_CLASSES))
        sessions = None
        if record != "none":
            sessions = _long(out, start, patients["end_status"])
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
        and noise under every policy (common random numbers). ``None`` draws one, which the
        result records (``SimulatedClinic.seed``).
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
    (seed, th, th_of), generated = _start(config, policy, seed, monitor, keep_sessions,
                                          chunk_size, progress, truth=True)
    chunks = list(generated)
    variates = {"normal": 0, "uniform": 0}
    for chunk in chunks:
        for kind, count in chunk.variates.items():
            variates[kind] += count
    patients = _concat([c.patients for c in chunks])
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


def _long(out, first_id: int, end_status: pd.Series) -> pd.DataFrame:
    """Tabulate the attended sessions of a chunk as a long frame, patient by patient.

    Observed columns, the hidden ones that were recorded, and each patient's end status.
    """
    n_sessions, n = out.obs.shape
    counts = out.last_session.astype(np.int64) + 1
    attended = np.arange(n_sessions)[None, :] < counts[:, None]  # (patients, sessions)
    total = int(counts.sum())
    starts = np.cumsum(counts) - counts
    rows = np.arange(total, dtype=np.int32)
    pid = np.repeat(np.arange(n, dtype=np.int32), counts)
    # compact integers (ids < 2**31, sessions <= 200): less to copy, validate and write
    frame = {"patient": pid + np.int32(first_id),
             "therapist": out.therapist.astype(np.int32)[pid],
             "session": (rows - np.repeat(starts.astype(np.int32), counts)).astype(np.int16)}
    for name in ("score", "alliance", *SESSION_TRUTH):
        if name in out.matrices:
            frame[name] = out.matrices[name].T[attended]  # patient-major, like the rows
    if "rupture" in frame:
        frame["rupture"] = pd.Categorical.from_codes(frame["rupture"],
                                                     categories=list(RUPTURE_TYPES))
    codes = end_status.cat.codes.to_numpy()[pid]
    frame["end_status"] = pd.Categorical.from_codes(codes, dtype=end_status.dtype)
    return pd.DataFrame(frame, copy=False)


def _observed(sessions: pd.DataFrame, instrument: Instrument) -> TherapyData:
    """Observed long data (score, alliance rating, end status) as validated TherapyData."""
    columns = ["patient", "therapist", "session", "score", "alliance"]
    data = TherapyData.from_frame(
        sessions[columns], patient="patient", therapist="therapist", session="session",
        score="score", alliance="alliance", instrument=instrument)
    pid = sessions["patient"].to_numpy()
    first = np.flatnonzero(np.r_[True, pid[1:] != pid[:-1]])
    status = sessions["end_status"].iloc[first]
    return data.with_end_status(pd.Series(status.to_numpy(), index=pid[first],
                                          dtype=status.dtype))
