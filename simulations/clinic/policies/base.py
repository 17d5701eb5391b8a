"""Policies as components with hooks, how they combine, and the monitoring component.

A policy is an object whose hooks the session loop calls with the chunk state
(:class:`~simulations.clinic.state.Chunk`; the hooks and their order are listed in
:mod:`simulations.clinic.engine`): it observes what a service can observe and changes the course
of treatment. :class:`Policy` gives every hook a no-op default, so a policy implements only
the hooks it needs; the built-in policies use the same hooks as one a user writes (see
``docs/simulator.md``). Policies combine with ``+``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from simulations.clinic.monitors import ExpectedRecoveryMonitor, Monitor

if TYPE_CHECKING:
    from simulations.clinic.config import ClinicConfig
    from simulations.clinic.state import Chunk

__all__ = ["CombinedPolicy", "Monitoring", "Policy", "TreatmentAsUsual", "combine"]


class Policy:
    """What a clinic does, as hooks the session loop calls (all no-ops here).

    Subclass it (a frozen dataclass is the usual form), give it a ``name`` and implement the
    hooks you need: ``start``, ``after_scores``, ``during_session``, ``before_ending``,
    ``finish`` (each takes the chunk state). Parts a policy needs that the user did not list
    (e.g. clinical support tools need feedback) are returned by :meth:`implies`.

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Nothing(Policy):
    ...     name = "nothing"
    >>> (Nothing() + TreatmentAsUsual()).name
    Traceback (most recent call last):
    ...
    ValueError: policy: 'tau' cannot be combined with other policies
    """

    name: ClassVar[str] = "policy"
    #: Position among the built-in parts when combined (user policies come last).
    order: ClassVar[int] = 100

    def __add__(self, other: Policy) -> CombinedPolicy:
        return combine(self, other)

    def implies(self) -> tuple[Policy, ...]:
        """Default parts this policy needs when they are not given (none)."""
        return ()

    def bind(self, config: ClinicConfig) -> Policy:
        """Return the policy ready for a clinic with this configuration (itself)."""
        return self

    def start(self, chunk: Chunk) -> None:
        """After patients and therapists are drawn."""

    def after_scores(self, chunk: Chunk) -> None:
        """Each session, once the observed score (and the monitor's alert) is known."""

    def during_session(self, chunk: Chunk) -> None:
        """After the alliance rating and the therapist's noticing, before resolution."""

    def before_ending(self, chunk: Chunk) -> None:
        """Before the session's planned endings and dropout."""

    def finish(self, chunk: Chunk) -> None:
        """After the follow-up assessment at the horizon."""


@dataclass(frozen=True)
class TreatmentAsUsual(Policy):
    """Treatment as usual: scores are monitored but nobody acts on them.

    Scores are monitored for not-on-track status; therapists notice and repair ruptures with
    their own skill.

    Examples
    --------
    >>> TreatmentAsUsual().name
    'tau'
    """

    name: ClassVar[str] = "tau"
    order: ClassVar[int] = 0


@dataclass(frozen=True)
class Monitoring(Policy):
    """The service's not-on-track monitor as a component.

    At every session after intake it flags patients in treatment (``Chunk.alert``) and keeps count
    (``flagged``, ``first_flag``, ``n_alerts``). Runs first, under every policy (TAU too).

    Examples
    --------
    >>> from simulations.clinic.monitors import ExpectedRecoveryMonitor
    >>> m = Monitoring(monitor=ExpectedRecoveryMonitor())
    >>> m.name, isinstance(m, Policy)
    ('monitoring', True)
    """

    name: ClassVar[str] = "monitoring"
    monitor: Monitor

    def after_scores(self, chunk: Chunk) -> None:
        """Flag this session's not-on-track patients."""
        s = chunk.session
        if s == 0:
            return
        alert = self.monitor.flag(s, chunk.scores[: s + 1].T, instrument=chunk.instrument)
        alert = np.asarray(alert, bool) & chunk.active
        chunk.alert = alert
        chunk.first_flag += (s + 1) * (alert & ~chunk.flagged)  # from -1 to s at the first
        chunk.flagged |= alert
        chunk.n_alerts += alert


@dataclass(frozen=True)
class CombinedPolicy(Policy):
    """Several policies applied together (at most one of each kind), in a fixed order.

    Examples
    --------
    >>> from simulations.clinic.policies import AllianceRepair, Feedback
    >>> combined = Feedback() + AllianceRepair()
    >>> isinstance(combined, CombinedPolicy), [p.name for p in combined.parts]
    (True, ['feedback', 'alliance-repair'])
    >>> try:
    ...     CombinedPolicy(parts=(Feedback(), Feedback()))
    ... except ValueError as err:
    ...     print(str(err).split(",")[0])
    policy: each kind may appear once
    """

    parts: tuple[Policy, ...]

    def __post_init__(self) -> None:
        kinds = [type(p) for p in self.parts]
        if len(set(kinds)) != len(kinds):
            raise ValueError(f"policy: each kind may appear once, got {self.name!r}")
        if TreatmentAsUsual in kinds and len(kinds) > 1:
            raise ValueError("policy: 'tau' cannot be combined with other policies")
        for p in self.parts:
            if not isinstance(p, Policy) or isinstance(p, CombinedPolicy):
                raise ValueError(f"policy parts must be policies, got {type(p).__name__}")

    @property
    def name(self) -> str:  # type: ignore[override]
        """Part names joined with ``+``."""
        return "+".join(p.name for p in self.parts)

    def get(self, kind: type) -> Policy | None:
        """Return the part of this kind, if any."""
        return next((p for p in self.parts if isinstance(p, kind)), None)

    def default_monitor(self) -> Monitor:
        """Return the monitor of the first part that has one (feedback, referral).

        Without one, the default expected-recovery-curve monitor.
        """
        for p in self.parts:
            mon = getattr(p, "monitor", None)
            if isinstance(mon, Monitor):
                return mon
        return ExpectedRecoveryMonitor()

    def components(self, config: ClinicConfig, monitor: Monitor | None = None) -> list[Policy]:
        """List what the session loop runs, bound to ``config``, in order.

        The bound monitor first, then every part and the default parts they imply (e.g. feedback for
        clinical support tools).
        """
        parts = list(self.parts)
        for p in self.parts:
            for needed in p.implies():
                if not any(type(q) is type(needed) for q in parts):
                    parts.append(needed)
        parts.sort(key=lambda p: p.order)  # stable: user policies keep the order given
        mon = (monitor if monitor is not None else self.default_monitor()).bind(config)
        return [Monitoring(mon), *(p.bind(config) for p in parts)]


def combine(*policies: Policy) -> CombinedPolicy:
    """Combine policies into one (built-in parts in a fixed order, user policies after them).

    Examples
    --------
    >>> from simulations.clinic.policies import AllianceRepair, Feedback
    >>> combine(AllianceRepair(), Feedback()).name
    'feedback+alliance-repair'
    """
    parts: list[Policy] = []
    for p in policies:
        if not isinstance(p, Policy):
            raise ValueError(f"policy must be a policy object or a name, got {type(p).__name__}")
        parts.extend(p.parts if isinstance(p, CombinedPolicy) else (p,))
    parts.sort(key=lambda p: p.order)
    return CombinedPolicy(tuple(parts))
