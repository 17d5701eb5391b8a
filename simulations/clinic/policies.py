"""What the clinic does with what it observes: small, frozen, composable policies.

Policies combine with ``+`` (or :func:`combine`), e.g. ``Feedback() + AllianceRepair()``, and
are named on the command line as ``tau``, ``feedback``, ``feedback+cst``,
``alliance-repair``, ``feedback+alliance-repair``, ``referral`` and other ``+`` combinations
(:func:`policy_from_name`). Effect sizes live on the policies; their defaults are calibrated
so that feedback and feedback + clinical support tools reproduce the NOT-case outcomes of the
OQ trials (Lambert 2017 [V]; see ``docs/simulator.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from simulations.clinic.monitors import ExpectedRecoveryMonitor, Monitor

__all__ = [
    "AllianceRepair",
    "ClinicalSupport",
    "CombinedPolicy",
    "Feedback",
    "Policy",
    "Referral",
    "TreatmentAsUsual",
    "combine",
    "policy_from_name",
]


def _prob(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")


class _Combinable:
    """Mixin giving policies ``+``."""

    def __add__(self, other: Policy) -> CombinedPolicy:
        return combine(self, other)  # type: ignore[arg-type]


@dataclass(frozen=True)
class TreatmentAsUsual(_Combinable):
    """Treatment as usual: scores are monitored (for NOT status) but nobody acts on them.

    Examples
    --------
    >>> TreatmentAsUsual().name
    'tau'
    """

    name: ClassVar[str] = "tau"


@dataclass(frozen=True)
class Feedback(_Combinable):
    """ROM progress feedback: the therapist is alerted to not-on-track patients.

    On each alert the therapist acts with probability ``p_act`` (times their own
    responsiveness). Acting changes the rest of treatment: the change rate rises by
    ``rate_boost``, the dropout odds are multiplied by ``dropout_odds`` (feedback lowers
    dropout, OR 1.19, de Jong et al. 2021 [V]) and the planned treatment is extended by
    ``extend_sessions`` (feedback lengthens treatment of potential failures, Lambert et al.
    2002 [V]; the size is [assumed]). Defaults are [calibrated] to NOT cases deteriorating
    13% rather than 21% (Lambert 2017 [V]).

    Examples
    --------
    >>> (Feedback() + AllianceRepair()).name
    'feedback+alliance-repair'
    """

    name: ClassVar[str] = "feedback"
    monitor: Monitor = field(default_factory=ExpectedRecoveryMonitor)
    p_act: float = 0.75
    rate_boost: float = 0.45
    dropout_odds: float = 0.35
    extend_sessions: int = 2

    def __post_init__(self) -> None:
        _prob("feedback.p_act", self.p_act)
        if not isinstance(self.extend_sessions, int) or not 0 <= self.extend_sessions <= 100:
            raise ValueError(f"feedback.extend_sessions must be in [0, 100], "
                             f"got {self.extend_sessions!r}")
        if not -2.0 <= self.rate_boost <= 2.0:
            raise ValueError(f"feedback.rate_boost must be in [-2, 2], got {self.rate_boost}")
        if not 0.0 < self.dropout_odds <= 10.0:
            raise ValueError(f"feedback.dropout_odds must be in (0, 10], got {self.dropout_odds}")


@dataclass(frozen=True)
class ClinicalSupport(_Combinable):
    """Clinical support tools on top of feedback: assess the domains and target the failing one.

    For an alerted patient the therapist, prompted by the tool, acts with probability
    ``p_act`` and assesses, in this order: crisis (worsening of at least one RCI since the last
    session), the alliance (last rating below ``low_alliance``), motivation/readiness, social
    support and life events (external stress) and case formulation/diagnosis (comorbidity) —
    the domains of the Trier Treatment Navigator and the OQ CST (DOMAIN.md §3 [V]). The first
    failing domain is targeted: its penalty shrinks by ``domain_fix`` (for the alliance: the
    patient's alliance level rises by ``alliance_boost`` SDs) and the change rate rises by
    ``rate_boost``. Defaults are [calibrated] to NOT cases deteriorating 6% and 50% recovering
    or improving (Lambert 2017 [V]). Used alone it implies default :class:`Feedback`.
    """

    name: ClassVar[str] = "cst"
    p_act: float = 0.9
    rate_boost: float = 0.70
    domain_fix: float = 0.8
    alliance_boost: float = 0.8
    low_alliance: float = 3.4

    def __post_init__(self) -> None:
        _prob("cst.p_act", self.p_act)
        _prob("cst.domain_fix", self.domain_fix)
        if not -2.0 <= self.rate_boost <= 2.0:
            raise ValueError(f"cst.rate_boost must be in [-2, 2], got {self.rate_boost}")
        if not 0.0 <= self.alliance_boost <= 5.0:
            raise ValueError(f"cst.alliance_boost must be in [0, 5], got {self.alliance_boost}")
        if not 1.0 <= self.low_alliance <= 5.0:
            raise ValueError(f"cst.low_alliance must be in [1, 5], got {self.low_alliance}")


@dataclass(frozen=True)
class AllianceRepair(_Combinable):
    """Alliance measured every session; a drop or a low rating triggers metacommunication.

    A rupture is noticed when the rating fell by at least ``drop`` points since the last
    session or is at most ``low``, so confrontations (larger drops) are noticed more often
    than withdrawals, which patients express indirectly (DOMAIN.md §6 [S]). A noticed rupture
    is repaired with probability ``p_success`` (or the spontaneous rate if higher). Repair
    restores and strengthens the alliance; unrepaired ruptures weaken it, worsen symptoms
    and raise dropout (Eubanks, Muran & Safran 2018 [V]: repair-outcome r = .29; Muran et
    al. 2009 [V] and Eubanks et al. 2019 [V]: resolution predicts retention).

    No trial gives the effect of such a policy: ``p_success`` is [assumed], and training
    therapists in rupture repair has small, uncertain effects (r = .11, CI including 0,
    Eubanks et al. 2018 [V]). With the defaults repair lifts the share of ruptures resolved
    from about a quarter to about a half and lowers dropout by about 5 points; vary
    ``p_success`` in a sensitivity analysis before relying on that size.
    """

    name: ClassVar[str] = "alliance-repair"
    drop: float = 0.5
    low: float = 3.0
    p_success: float = 0.6

    def __post_init__(self) -> None:
        _prob("alliance_repair.p_success", self.p_success)
        if not 0.0 < self.drop <= 4.0:
            raise ValueError(f"alliance_repair.drop must be in (0, 4], got {self.drop}")
        if not 1.0 <= self.low <= 5.0:
            raise ValueError(f"alliance_repair.low must be in [1, 5], got {self.low}")


@dataclass(frozen=True)
class Referral(_Combinable):
    """Planned referral: a treatment still off track ``after_sessions`` sessions after it was
    modified (or, without feedback, after the first alert) is ended and the patient referred.

    Referred patients are counted as ``referred``, never as dropout. Their outcome here is
    the score at referral (their care continues elsewhere), so referral raises the
    deterioration rate measured in this service while it lowers dropout and ends treatments
    that are not helping.
    """

    name: ClassVar[str] = "referral"
    after_sessions: int = 4
    monitor: Monitor = field(default_factory=ExpectedRecoveryMonitor)

    def __post_init__(self) -> None:
        if not isinstance(self.after_sessions, int) or not 1 <= self.after_sessions <= 100:
            raise ValueError(f"referral.after_sessions must be in [1, 100], "
                             f"got {self.after_sessions!r}")


Component = TreatmentAsUsual | Feedback | ClinicalSupport | AllianceRepair | Referral


@dataclass(frozen=True)
class CombinedPolicy(_Combinable):
    """Several policies applied together (at most one of each kind)."""

    parts: tuple[Component, ...]

    def __post_init__(self) -> None:
        kinds = [type(p) for p in self.parts]
        if len(set(kinds)) != len(kinds):
            raise ValueError(f"policy: each kind may appear once, got {self.name!r}")
        if TreatmentAsUsual in kinds and len(kinds) > 1:
            raise ValueError("policy: 'tau' cannot be combined with other policies")

    @property
    def name(self) -> str:  # type: ignore[override]
        """Component names joined with ``+``."""
        return "+".join(p.name for p in self.parts)

    def get(self, kind: type) -> Component | None:
        """The part of this kind, if any."""
        return next((p for p in self.parts if isinstance(p, kind)), None)


Policy = Component | CombinedPolicy

_ORDER = (TreatmentAsUsual, Feedback, ClinicalSupport, AllianceRepair, Referral)


def combine(*policies: Policy) -> CombinedPolicy:
    """Combine policies into one (order does not matter).

    Examples
    --------
    >>> combine(AllianceRepair(), Feedback()).name
    'feedback+alliance-repair'
    """
    parts: list[Component] = []
    for p in policies:
        parts.extend(p.parts if isinstance(p, CombinedPolicy) else (p,))
    parts.sort(key=lambda p: _ORDER.index(type(p)))
    return CombinedPolicy(tuple(parts))


_NAMES: dict[str, type] = {"tau": TreatmentAsUsual, "feedback": Feedback,
                           "cst": ClinicalSupport, "alliance-repair": AllianceRepair,
                           "referral": Referral}


def policy_from_name(name: str) -> CombinedPolicy:
    """Build a policy from its command-line name (parts joined with ``+``).

    Examples
    --------
    >>> policy_from_name("feedback+cst").name
    'feedback+cst'
    >>> policy_from_name("telepathy")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: policy: unknown part 'telepathy'; allowed: tau, feedback, cst, ...
    """
    tokens = [t.strip().lower().replace("_", "-") for t in str(name).split("+")]
    for t in tokens:
        if t not in _NAMES:
            raise ValueError(f"policy: unknown part {t!r}; allowed: {', '.join(_NAMES)}")
    return combine(*(_NAMES[t]() for t in tokens))


def as_combined(policy: Policy | str) -> CombinedPolicy:
    """Normalise a policy or a policy name to a :class:`CombinedPolicy`."""
    if isinstance(policy, str):
        return policy_from_name(policy)
    if isinstance(policy, CombinedPolicy):
        return policy
    if isinstance(policy, _ORDER):
        return combine(policy)
    raise ValueError(f"policy must be a policy object or a name, got {type(policy).__name__}")
