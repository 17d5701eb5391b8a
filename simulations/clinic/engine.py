"""The session loop of the clinic simulator, for one chunk of patients at a time.

Everything is an array over the chunk's patients; the only Python loop is over weeks. Scores
live on a *severity* scale inside (0 = best, ``max - min`` = worst) so that the same code
serves instruments where higher is better; observed scores are converted back.

The loop knows nothing of particular policies. It moves the components of a treatment
(:mod:`~simulations.clinic.course`, :mod:`~simulations.clinic.alliance`,
:mod:`~simulations.clinic.endings`) and, in between, calls the hooks of the *components* it is
given (the monitor and the policy's parts) with the chunk state
(:class:`~simulations.clinic.state.Chunk`):

``start(chunk)``
    once, after patients and therapists are drawn (e.g. training raises therapists' skill);
``after_scores(chunk)``
    each session, once the observed score is known (monitoring, alerts, actions on alerts,
    planned endings);
``during_session(chunk)``
    after the alliance rating and the therapist's noticing of a rupture, before the rupture is
    resolved (e.g. noticing through the rating, metacommunication);
``before_ending(chunk)``
    before the session's planned endings and dropout;
``finish(chunk)``
    once, after the follow-up assessment at the horizon.

After the session limit (and once nobody is left in this treatment) only the symptom course
runs, up to the follow-up assessment of every patient at the horizon.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from simulations.clinic.alliance import alliance_step, resolve_ruptures
from simulations.clinic.config import ClinicConfig
from simulations.clinic.course import measure, measure_horizon, symptom_step
from simulations.clinic.endings import end_of_session
from simulations.clinic.patients import draw_patients, therapist_effects
from simulations.clinic.state import DOMAINS, F32, SESSION_TRUTH, Chunk

__all__ = ["DOMAINS", "HOOKS", "SESSION_TRUTH", "ChunkResult", "Record", "chunk_seeds",
           "run_chunk", "setup", "therapist_effects"]

#: The hooks the loop calls on every component, in this order within a session.
HOOKS = ("start", "after_scores", "during_session", "before_ending", "finish")
Record = Literal["none", "observed", "truth"]


@dataclass
class ChunkResult:
    """Arrays of one chunk: per patient (1-D) and per session x patient (``matrices``).

    The matrices are session-major, so that each session's writes and the monitor's reads are
    contiguous.

    Examples
    --------
    >>> cfg = ClinicConfig(n_patients=50, n_therapists=5)
    >>> th, th_of = setup(cfg, seed=1)
    >>> _, _, ss = next(chunk_seeds(cfg, 1, 50))
    >>> out = run_chunk(cfg, [], th, th_of, ss)
    >>> isinstance(out, ChunkResult), out.therapist.shape, out.obs.shape  # sessions x patients
    (True, (50,), (20, 50))
    """

    therapist: np.ndarray
    obs: np.ndarray
    last_session: np.ndarray
    end: np.ndarray
    patient: dict[str, np.ndarray]
    matrices: dict[str, np.ndarray] = field(default_factory=dict)
    variates: dict[str, int] = field(default_factory=dict)


def setup(config: ClinicConfig, seed: int | None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Draw therapists' effects and each patient's therapist.

    Therapists are assigned at random with equal probability (caseloads vary as in routine
    services); both draws come from the first two children of ``SeedSequence(seed)``.

    Examples
    --------
    >>> th, th_of = setup(ClinicConfig(n_patients=100, n_therapists=4), seed=3)
    >>> th["repair_skill"].shape, th_of.shape
    ((4,), (100,))
    """
    therapist_ss, assign_ss, _ = np.random.SeedSequence(seed).spawn(3)
    th = therapist_effects(config, np.random.default_rng(therapist_ss))
    th_of = np.random.default_rng(assign_ss).integers(
        0, config.n_therapists, config.n_patients, dtype=np.int32)
    return th, th_of


def chunk_seeds(config: ClinicConfig, seed: int | None, chunk_size: int):  # noqa: ANN201
    """Yield (start, stop, chunk seed sequence); chunk i always gets spawn key (2, i).

    Examples
    --------
    >>> [(a, b, ss.spawn_key) for a, b, ss in chunk_seeds(ClinicConfig(n_patients=250,
    ...                                                   n_therapists=5), 1, 100)]
    [(0, 100, (2, 0)), (100, 200, (2, 1)), (200, 250, (2, 2))]
    """
    chunks_ss = np.random.SeedSequence(seed).spawn(3)[2]
    n = config.n_patients
    for i, ss in enumerate(chunks_ss.spawn(-(-n // chunk_size))):
        yield i * chunk_size, min(n, (i + 1) * chunk_size), ss


def run_chunk(config: ClinicConfig, components: list, th: dict[str, np.ndarray],
              th_of: np.ndarray, ss: np.random.SeedSequence, *,
              record: Record = "none") -> ChunkResult:
    """Simulate the patients of one chunk (``th_of``: their therapists) to the horizon.

    ``components`` are objects with the :data:`HOOKS` (the monitor first, then the policy's
    parts; :class:`simulations.clinic.policies.Policy` gives no-op defaults).

    Examples
    --------
    >>> cfg = ClinicConfig(n_patients=500, n_therapists=5)
    >>> th, th_of = setup(cfg, seed=1)
    >>> _, _, ss = next(chunk_seeds(cfg, 1, 500))
    >>> out = run_chunk(cfg, [], th, th_of, ss)
    >>> out.obs.shape, int(out.last_session.max()) <= cfg.max_sessions - 1
    ((20, 500), True)
    """
    c = Chunk(config, th, th_of, ss, record=record != "none")
    draw_patients(c)
    mats = _matrices(c.n_sessions, c.n, record)
    for comp in components:
        comp.start(c)
    in_treatment = True
    for s in range(c.horizon + 1):
        c.session = s
        if s > 0:
            symptom_step(c)
        if not (in_treatment and s < c.n_sessions):
            continue
        c.last += c.active & (s > 0)  # arithmetic, not masked assignment: far faster
        measure(c)
        for comp in components:
            comp.after_scores(c)
        alliance_step(c)
        for comp in components:
            comp.during_session(c)
        resolve_ruptures(c)
        if s < 3:
            c.early_sum += c.rating * c.active
            c.early_n += c.active
        if mats:
            _record(mats, c)
        for comp in components:
            comp.before_ending(c)
        c.prev_o = c.o_sev
        end_of_session(c)
        in_treatment = bool(c.active.any())
    measure_horizon(c)
    for comp in components:
        comp.finish(c)
    if mats:
        mats["score"] = c.scores
    return ChunkResult(therapist=th_of, obs=c.scores, last_session=c.last, end=c.end,
                       patient=_patient_columns(c), matrices=mats, variates=c.variates)


def _matrices(n_sessions: int, n: int, record: Record) -> dict[str, np.ndarray]:
    if record == "none":
        return {}
    mats = {"alliance": np.zeros((n_sessions, n), F32)}
    if record == "truth":
        mats |= {k: np.zeros((n_sessions, n), F32) for k in ("latent_score", "latent_alliance")}
        mats |= {"rupture": np.zeros((n_sessions, n), np.int8)}
        mats |= {k: np.zeros((n_sessions, n), bool)
                 for k in ("noticed", "repaired", "alert", "action")}
    return mats


def _record(mats: dict[str, np.ndarray], c: Chunk) -> None:
    s = c.session
    mats["alliance"][s] = c.rating
    if "rupture" in mats:
        mats["latent_score"][s] = c.to_score(c.sev)
        mats["latent_alliance"][s] = c.a
        mats["rupture"][s] = c.rupture
        mats["noticed"][s] = c.noticed
        mats["repaired"][s] = c.repaired
        mats["alert"][s] = c.alert
        mats["action"][s] = c.acted_now


def _patient_columns(c: Chunk) -> dict[str, np.ndarray]:
    """Per-patient outputs: observed outcomes, then the hidden truth, then policy columns."""
    n = c.n
    out = {
        "intake": c.scores[0].copy(), "final": c.scores[c.last, np.arange(n)],
        "score_horizon": c.score_horizon,
        "ever_not": c.flagged, "first_not_session": c.first_flag, "n_alerts": c.n_alerts,
        "acted": c.n_actions > 0, "n_actions": c.n_actions,
        "first_action_session": c.first_action, "ladder_rung": c.rung,
        "referred_session": c.referred_at, "next_treatment_start": c.next_start,
    }
    for code, name in enumerate(DOMAINS[1:]):
        out[f"target_{name}"] = (c.domains >> code) & 1 == 1
    out |= {
        "n_withdrawal": c.n_rupt[0], "n_confrontation": c.n_rupt[1],
        "n_resolved_withdrawal": c.n_resolved[0], "n_resolved_confrontation": c.n_resolved[1],
        "n_ruptures": c.n_rupt.sum(0, dtype=np.int16),
        "n_repaired": c.n_resolved.sum(0, dtype=np.int16), "n_noticed": c.n_noticed,
        "early_alliance": c.early_sum / np.maximum(c.early_n, 1),
        "latent_intake": c.to_score(c.sev0), "latent_final": c.to_score(c.sev_end),
        "latent_horizon": c.to_score(c.sev_horizon),
        "trajectory_class": c.klass, "change_rate": c.initial_rate,
        "next_change_rate": c.next_rate,
        "low_readiness": c.readiness, "comorbidity": c.comorb,
        "prior_negative_therapy": c.prior_neg, "external_stress": c.stress,
        "sudden_gain": c.has_gain & (c.gain_at <= c.last), "planned_sessions": c.planned,
        "alliance_level": c.initial_level, "dropout_frailty": c.frailty,
    }
    for name, value in c.extra.items():
        if name.startswith("_"):
            continue  # a policy's private working array
        if name in out:
            raise ValueError(f"policy column {name!r} clashes with a simulator column")
        out[name] = value
    return out
