"""Responding to not-on-track alerts: ROM feedback and clinical support tools.

Every alert can matter: the therapist may act on each one, and a clinical support tool
assesses all the case-formulation domains, not only the first that fails. The failure ladder
that builds on these is in :mod:`simulations.clinic.policies.ladder`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from simulations.clinic.monitors import ExpectedRecoveryMonitor, Monitor
from simulations.clinic.policies.base import Policy
from simulations.clinic.state import DOMAINS, F32
from simulations.clinic.validate import check, check_int, check_prob

if TYPE_CHECKING:
    from simulations.clinic.state import Chunk

__all__ = ["ClinicalSupport", "Feedback", "assess_domains"]


@dataclass(frozen=True)
class Feedback(Policy):
    """ROM progress feedback: the therapist is alerted to not-on-track patients.

    On every alert the therapist acts with probability ``p_act`` times their own
    responsiveness (which is lower for therapists who overrate their effectiveness; see
    :class:`~simulations.clinic.parameters.TherapistConfig`). Each action modifies the rest of
    treatment: the change rate rises by ``rate_boost`` at the first action and by
    ``repeat_decay`` times the previous action's boost at each later one (later alerts still
    matter, with diminishing returns [assumed]). The first action also multiplies the
    dropout odds by ``dropout_odds`` (feedback lowers dropout, OR 1.19, de Jong et al. 2021
    [V]) and extends the planned treatment by ``extend_sessions`` (feedback lengthens the
    treatment of potential failures, Lambert et al. 2002 [V]; the size is [assumed]).
    Defaults are [calibrated] to NOT cases deteriorating 13% rather than 21% (Lambert 2017
    [V]).

    Examples
    --------
    >>> from simulations.clinic.policies import AllianceRepair
    >>> (Feedback() + AllianceRepair()).name
    'feedback+alliance-repair'
    """

    name: ClassVar[str] = "feedback"
    order: ClassVar[int] = 10
    monitor: Monitor = field(default_factory=ExpectedRecoveryMonitor)
    p_act: float = 0.75
    rate_boost: float = 0.4
    repeat_decay: float = 0.5
    dropout_odds: float = 0.35
    extend_sessions: int = 2

    def __post_init__(self) -> None:
        check_prob("feedback.p_act", self.p_act)
        check_prob("feedback.repeat_decay", self.repeat_decay)
        check_int("feedback.extend_sessions", self.extend_sessions, 0, 100)
        check("feedback.rate_boost", self.rate_boost, -2.0, 2.0)
        check("feedback.dropout_odds", self.dropout_odds, 0.0, 10.0, open_low=True)

    def start(self, chunk: Chunk) -> None:
        """Each patient's probability of an action on an alert."""
        chunk.p_act = np.minimum(self.p_act * chunk.of_therapist("responsiveness"), 1)

    def after_scores(self, chunk: Chunk) -> None:
        """Act on this session's alerts."""
        u = chunk.uniform("act")  # drawn every session: common random numbers
        act = chunk.alert & (u < chunk.p_act)
        chunk.acted_now = act
        idx = np.flatnonzero(act)
        if not len(idx):
            return
        s, before = chunk.session, chunk.n_actions[idx]
        chunk.rate[idx] += F32(self.rate_boost) * F32(self.repeat_decay) ** before
        first = idx[before == 0]
        chunk.static[first] += F32(math.log(self.dropout_odds))
        chunk.planned[first] = np.minimum(chunk.planned[first] + self.extend_sessions,
                                          chunk.n_sessions)
        chunk.first_action[first] = s
        chunk.n_actions[idx] += 1


@dataclass(frozen=True)
class ClinicalSupport(Policy):
    """Clinical support tools on top of feedback.

    Assess the case-formulation domains and target every one found failing.

    When the therapist acts on an alert (with probability ``p_act`` times their
    responsiveness: the tool prompts more action than feedback alone) they assess the five
    domains of the OQ clinical support tools and the Trier Treatment Navigator (DOMAIN.md §3
    [V]), which are also the domains of Persons' case formulation (Persons 2008; Persons &
    Mikami 2002 [S]):

    ``crisis``
        worsening of at least one RCI since the last session, or a life event this week;
    ``alliance``
        latent alliance below ``alliance_threshold`` SDs;
    ``motivation``
        low readiness;
    ``social_support``
        external stress and life events;
    ``case_formulation``
        the treatment does not fit: a non-responding or deteriorating course, or comorbidity.

    The assessment is fallible: a failing domain is recognised with probability
    ``sensitivity`` and a sound one is judged failing with probability ``false_alarm``
    (targeting it does nothing) [assumed]. Each failing domain found is targeted once (a
    crisis every time it is found): its penalty shrinks by ``domain_fix`` (the alliance: the
    patient's level rises by ``alliance_boost`` SDs; the formulation: the change rate moves
    ``domain_fix`` of the way to a gradual responder's). Beyond prompting more action, CST's
    effect over feedback comes from this targeting. Defaults are [calibrated] to NOT cases
    deteriorating 6% and 50% recovering or improving (Lambert 2017 [V]). Implies default
    :class:`Feedback` when used alone.

    Examples
    --------
    >>> from simulations.clinic.config import ClinicConfig
    >>> from simulations.clinic.simulate import simulate
    >>> run = simulate(ClinicConfig(n_patients=60, n_therapists=4), ClinicalSupport(), seed=1)
    >>> [p.name for p in run.policy.parts]  # clinical support tools imply feedback
    ['cst']
    """

    name: ClassVar[str] = "cst"
    order: ClassVar[int] = 20
    p_act: float = 0.9
    sensitivity: float = 0.75
    false_alarm: float = 0.1
    domain_fix: float = 0.9
    alliance_boost: float = 0.8
    alliance_threshold: float = -0.5

    def __post_init__(self) -> None:
        for name in ("p_act", "sensitivity", "false_alarm", "domain_fix"):
            check_prob(f"cst.{name}", getattr(self, name))
        check("cst.alliance_boost", self.alliance_boost, 0.0, 5.0)
        check("cst.alliance_threshold", self.alliance_threshold, -5.0, 5.0)

    def implies(self) -> tuple[Policy, ...]:
        """Feedback (the alerts CST responds to)."""
        return (Feedback(),)

    def start(self, chunk: Chunk) -> None:
        """Start the tool: its prompt raises the probability of acting; draw the assessments."""
        chunk.p_act = np.minimum(self.p_act * chunk.of_therapist("responsiveness"), 1)
        # two assessment rounds per patient (a routine one, one with consultation), drawn
        # up front from the tool's own stream so that no other stream moves
        chunk.extra["_assessment"] = chunk.uniform("assessment", 2 * (len(DOMAINS) - 1))
        chunk.support = self

    def after_scores(self, chunk: Chunk) -> None:
        """Assess and target the domains of the patients acted on this session."""
        idx = np.flatnonzero(chunk.acted_now)
        if len(idx):
            assess_domains(chunk, idx, self, round_=0, sensitivity=self.sensitivity)


def failing_domains(chunk: Chunk, idx: np.ndarray, support: ClinicalSupport) -> np.ndarray:
    """Return which domains fail now (5 x len(idx), bool): what the assessment is about."""
    klass = chunk.klass[idx]
    return np.stack([
        (chunk.change[idx] <= -1) | chunk.event[idx],
        chunk.a[idx] < support.alliance_threshold,
        chunk.readiness[idx],
        chunk.stress[idx],
        (klass >= 2) | chunk.comorb[idx],
    ])


def assess_domains(chunk: Chunk, idx: np.ndarray, support: ClinicalSupport, *, round_: int,
                   sensitivity: float, boost: float = 0.0) -> None:
    """Assess the patients ``idx`` once, fallibly, and target what the assessment finds.

    ``round_`` 0: the tool; 1: with consultation, its own draws. ``boost`` is added to the change
    rate (a consultation's generic effect).

    Examples
    --------
    >>> from simulations.clinic.config import ClinicConfig
    >>> from simulations.clinic.simulate import simulate
    >>> run = simulate(ClinicConfig(n_patients=60, n_therapists=4), ClinicalSupport(), seed=1)
    >>> targets = [c for c in run.patients if c.startswith("target_")]  # what was targeted
    >>> len(targets), bool(run.patients[targets].to_numpy().any())
    (5, True)
    """
    k = len(DOMAINS) - 1
    u = chunk.extra["_assessment"][round_ * k:(round_ + 1) * k][:, idx]
    truth = failing_domains(chunk, idx, support)
    found = np.where(truth, u < sensitivity, u < support.false_alarm)
    weights = (1 << np.arange(k))[:, None]
    chunk.domains[idx] |= (found * weights).sum(0).astype(np.int8)  # what was targeted
    fixed = chunk.column("_fixed", np.int8)  # what was truly failing and has been modified
    new = found & truth & ((fixed[idx] >> np.arange(k)[:, None]) & 1 == 0)
    new[0] = found[0] & truth[0]  # a crisis is met whenever it is found
    fixed[idx] |= (new * weights).sum(0).astype(np.int8)
    if boost:
        chunk.rate[idx] += F32(boost)
    _target(chunk, idx, new, support)


def _target(chunk: Chunk, idx: np.ndarray, new: np.ndarray, support: ClinicalSupport) -> None:
    """Apply the modification for each newly targeted failing domain."""
    rk, co, fix = chunk.config.risk, chunk.config.course, F32(support.domain_fix)
    crisis, alliance, motivation, social, formulation = (idx[row] for row in new)
    chunk.dev[crisis] *= 1 - fix  # a crisis plan eases the acute worsening
    chunk.p_event[crisis] *= 1 - fix / 2
    chunk.level[alliance] += F32(support.alliance_boost)
    chunk.rate[motivation] += fix * F32(rk.readiness_rate)
    chunk.static[motivation] -= fix * F32(rk.readiness_dropout)
    chunk.p_event[social] *= 1 - fix
    chunk.static[social] -= fix * F32(rk.stress_dropout)
    rates = np.asarray(co.class_rates, dtype=F32)
    gap = (np.maximum(rates[1] - rates[chunk.klass[formulation]], 0)
           + F32(rk.comorbidity_rate) * chunk.comorb[formulation])
    chunk.rate[formulation] += fix * gap
