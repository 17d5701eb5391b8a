"""The symptom course and its measurement, in treatment and after it.

In treatment the latent score falls along a log-linear course (Finch, Lambert & Schaalje 2001
[V]): it sheds ``rate * severity_at_start / log(1 + reference_session)`` per unit of
``log(1 + t)``, ``t`` the session of that treatment; the current alliance adds to the rate.
Off treatment (after completing, dropping out, or while waiting for a next treatment) the
course drifts slowly towards the patient's untreated course (``follow_up.drift``,
``follow_up.natural_change``). A referred patient's next treatment starts its own course with
its own rate (``Chunk.next_rate``). Transient AR(1) deviations (shocks, life events under
external stress, the symptom cost of unresolved ruptures) come and go throughout.
"""

from __future__ import annotations

import math

import numpy as np

from simulations.clinic.state import F32, Chunk

__all__ = ["measure", "measure_horizon", "symptom_step"]


def symptom_step(c: Chunk) -> None:
    """Move every patient's latent score from last week to this week (``c.session >= 1``).

    In-place arithmetic throughout: each line is one pass over the chunk's arrays.

    Examples
    --------
    >>> c = new_chunk()  # 50 patients of 5 therapists, patients drawn (a doctest fixture)
    >>> before = c.sev.copy()
    >>> c.session = 1
    >>> symptom_step(c)  # one week of treatment
    >>> c.sev.shape, bool((c.sev != before).any())
    ((50,), True)
    """
    s, co, fu = c.session, c.config.course, c.config.follow_up
    c.event = c.uniform("stress") < c.p_event
    if s < c.n_sessions and c.active.any():  # the first treatment: up to the session limit
        effective = c.a * F32(co.alliance_effect)
        effective += c.rate
        effective *= c.active
        effective *= c.step
        effective *= F32(c.log_step(s))
        c.course -= effective
    started = c.next_start >= 0
    if started.any():
        _next_treatment(c, started, fu.next_sessions)
        off = ~c.active & ~c.in_next
    else:
        off = ~c.active
    if fu.drift > 0 and off.any():
        gap = c.anchor - c.course
        gap *= off
        gap *= F32(fu.drift)
        c.course += gap
    # transient deviations (AR(1)): shocks and life events fade, so a patient flagged in a bad
    # week can still recover, as many not-on-track cases do under TAU
    c.dev *= F32(co.shock_persistence)
    shock = c.normal("course")
    shock *= F32(co.shock_sd)
    c.dev += shock
    np.add(c.dev, F32(c.config.risk.stress_event_size), out=c.dev, where=c.event)
    if co.p_sudden_gain > 0 and s < c.n_sessions:
        c.course[(c.gain_at == s) & c.active] *= F32(1 - co.sudden_gain_fraction)
    c.sev = np.add(c.course, c.dev, out=shock)
    np.clip(c.sev, 0, c.span, out=c.sev)


def _next_treatment(c: Chunk, started: np.ndarray, n_next: int) -> None:
    """Course of referred patients in their next treatment (sessions 1 .. n_next - 1)."""
    s = c.session
    t = s - c.next_start  # session of the next treatment (0 = its first session)
    begins = started & (t == 0)
    if begins.any():
        c.next_step[begins] = c.sev[begins] / F32(math.log1p(c.config.course.reference_session))
    c.in_next = started & (t >= 0) & (t < n_next)
    moving = np.flatnonzero(c.in_next & (t >= 1))
    if len(moving):
        tt = t[moving].astype(np.float64)
        dl = (np.log1p(tt) - np.log(tt)).astype(F32)
        c.course[moving] -= dl * c.next_step[moving] * c.next_rate[moving]


def measure(c: Chunk) -> None:
    """Measure this session's observed score and the changes a service computes from it.

    The score is latent + error with the instrument's SEM, rounded and clipped to the scale.

    Examples
    --------
    >>> c = new_chunk()  # 50 patients of 5 therapists, patients drawn (a doctest fixture)
    >>> c.session = 0
    >>> measure(c)  # the intake score, rounded and clipped to the PHQ-9 range
    >>> row = c.scores[0]
    >>> bool((row == np.round(row)).all() and row.min() >= 0 and row.max() <= 27)
    True
    """
    s = c.session
    o_sev = c.normal("measure")
    o_sev *= F32(c.sem)
    o_sev += c.sev
    np.rint(o_sev, out=o_sev)
    np.clip(o_sev, 0, c.span, out=o_sev)
    if c.hiw:
        np.add(o_sev, F32(c.lo), out=c.scores[s])
    else:
        np.subtract(F32(c.hi), o_sev, out=c.scores[s])
    if s == 0:
        c.o0 = c.prev_o = o_sev
    c.o_sev = o_sev
    c.worse = o_sev - c.o0
    c.worse *= F32(1 / c.rci)  # RCIs worse than intake
    c.change = c.prev_o - o_sev
    c.change *= F32(1 / c.rci)  # RCIs better than last session


def measure_horizon(c: Chunk) -> None:
    """Measure the follow-up assessment at the horizon, for every patient.

    It uses its own stream, so that it is the same draw whatever happened in treatment.

    Examples
    --------
    >>> c = new_chunk()  # 50 patients of 5 therapists, patients drawn (a doctest fixture)
    >>> measure_horizon(c)
    >>> c.score_horizon.shape, bool(c.score_horizon.min() >= 0 and c.score_horizon.max() <= 27)
    ((50,), True)
    """
    o_sev = np.clip(np.rint(c.sev + F32(c.sem) * c.normal("follow_up")), 0, c.span)
    c.score_horizon = c.to_score(o_sev)
    c.sev_horizon = c.sev.copy()
