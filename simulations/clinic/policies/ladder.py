"""The failure ladder of Persons' case-formulation approach, and planned referral.

Persons' approach to treatment failure (Persons & Mikami 2002, *Psychotherapy* 39:139-151;
Persons 2008, *The case formulation approach to cognitive-behavior therapy* [S]; DOMAIN.md
"failing treatments"): monitor progress at every session; when the patient is not
progressing, assess the domains of the case formulation and modify the treatment; monitor
again; if progress still fails, modify again or consult; and when failure cannot be
overcome, end the treatment responsibly and refer. Ending is a referral, and the patient's
course goes on in a next treatment (:meth:`simulations.clinic.state.Chunk.refer`), so its
benefit shows at the common horizon.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from simulations.clinic.monitors import ExpectedRecoveryMonitor, Monitor
from simulations.clinic.policies.base import Policy
from simulations.clinic.policies.feedback import ClinicalSupport, Feedback, assess_domains
from simulations.clinic.validate import check, check_int, check_prob

if TYPE_CHECKING:
    from simulations.clinic.state import Chunk

__all__ = ["FailureLadder", "Referral"]


@dataclass(frozen=True)
class FailureLadder(Policy):
    """Persons' failure ladder: monitor, assess and modify, re-monitor, consult, end.

    Rungs (``ladder_rung`` in the patient table):

    1. the therapist acts on an alert with clinical support (:class:`ClinicalSupport`:
       assess every domain, modify what fails);
    2. re-monitoring: if the patient is still flagged ``remonitor`` or more sessions after that
       modification, a **consultation**: a second assessment with ``consult_sensitivity``
       (a colleague sees what the therapist missed) and a second modification, plus a generic
       gain of ``consult_boost`` in the change rate;
    3. if the patient is still flagged ``remonitor`` or more sessions after the consultation
       and ``end_failing`` is true: a planned ending with referral to a next treatment.

    Rungs 2 and 3 are the service's protocol, taken whenever due (not left to the
    therapist's responsiveness). Effect sizes are [assumed]; no trial has tested the ladder
    as a whole. Implies default :class:`Feedback` and :class:`ClinicalSupport`.

    Examples
    --------
    >>> from simulations.clinic.policies import policy_from_name
    >>> policy_from_name("ladder").name
    'ladder'
    """

    name: ClassVar[str] = "ladder"
    order: ClassVar[int] = 30
    remonitor: int = 3
    consult_sensitivity: float = 0.9
    consult_boost: float = 0.15
    end_failing: bool = True

    def __post_init__(self) -> None:
        check_int("ladder.remonitor", self.remonitor, 1, 100)
        check_prob("ladder.consult_sensitivity", self.consult_sensitivity)
        check("ladder.consult_boost", self.consult_boost, -2.0, 2.0)
        if not isinstance(self.end_failing, bool):
            raise ValueError(f"ladder.end_failing must be True or False, "
                             f"got {self.end_failing!r}")

    def implies(self) -> tuple[Policy, ...]:
        """Feedback and clinical support tools (rung 1)."""
        return (Feedback(), ClinicalSupport())

    def after_scores(self, chunk: Chunk) -> None:
        """Climb the ladder for patients still off track after the last step."""
        s, rung = chunk.session, chunk.rung
        first = chunk.acted_now & (rung == 0)
        rung[first] = 1
        chunk.last_step[first] = s
        due = chunk.alert & chunk.active & (rung >= 1) & (s - chunk.last_step >= self.remonitor)
        if not due.any():
            return
        ending = due & (rung == 2)
        consult = np.flatnonzero(due & (rung == 1))
        if len(consult):
            assess_domains(chunk, consult, chunk.support, round_=1,
                           sensitivity=self.consult_sensitivity, boost=self.consult_boost)
            rung[consult] = 2
            chunk.last_step[consult] = s
        if self.end_failing:
            rung[chunk.refer(ending)] = 3


@dataclass(frozen=True)
class Referral(Policy):
    """Planned referral of a treatment that has been off track for ``after_sessions`` sessions.

    Planned referral: a treatment that has been off track in ``after_sessions`` sessions is ended
    responsibly at the next alert and the patient referred to a next treatment.

    Referred patients are counted as ``referred``, never as dropout. Their end-of-treatment
    outcome is the score at referral; their course goes on in the next treatment (with a lower
    response, as in STAR*D's steps; :class:`~simulations.clinic.parameters.FollowUpConfig`), so
    continuing and referring are compared at the common horizon (``*_horizon`` outcomes).

    Examples
    --------
    >>> Referral(after_sessions=0)
    Traceback (most recent call last):
    ...
    ValueError: referral.after_sessions must be an integer in [1, 100], got 0
    """

    name: ClassVar[str] = "referral"
    order: ClassVar[int] = 60
    after_sessions: int = 4
    monitor: Monitor = field(default_factory=ExpectedRecoveryMonitor)

    def __post_init__(self) -> None:
        check_int("referral.after_sessions", self.after_sessions, 1, 100)

    def after_scores(self, chunk: Chunk) -> None:
        """Refer the patients flagged now for at least the ``after_sessions``-th time."""
        if chunk.session > 0:
            chunk.refer(chunk.alert & (chunk.n_alerts >= self.after_sessions))
