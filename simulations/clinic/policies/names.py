"""Policies by name, as on the command line: parts joined with ``+``."""

from __future__ import annotations

from simulations.clinic.policies.alliance import (
    AllianceFocusedSwitch,
    AllianceRepair,
    RepairTraining,
)
from simulations.clinic.policies.base import CombinedPolicy, Policy, TreatmentAsUsual, combine
from simulations.clinic.policies.feedback import ClinicalSupport, Feedback
from simulations.clinic.policies.ladder import FailureLadder, Referral

__all__ = ["POLICY_NAMES", "as_combined", "policy_from_name"]

#: Name of each built-in policy part.
POLICY_NAMES: dict[str, type[Policy]] = {
    cls.name: cls for cls in (TreatmentAsUsual, Feedback, ClinicalSupport, FailureLadder,
                              AllianceRepair, RepairTraining, AllianceFocusedSwitch, Referral)
}


def policy_from_name(name: str) -> CombinedPolicy:
    """Build a policy from its command-line name (parts joined with ``+``).

    Parts: ``tau``, ``feedback``, ``cst`` (clinical support tools), ``ladder`` (Persons'
    failure ladder), ``alliance-repair``, ``repair-training``, ``alliance-switch`` (Safran et
    al. 2005) and ``referral``, each with its defaults.

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
        if t not in POLICY_NAMES:
            raise ValueError(f"policy: unknown part {t!r}; allowed: {', '.join(POLICY_NAMES)}")
    return combine(*(POLICY_NAMES[t]() for t in tokens))


def as_combined(policy: Policy | str) -> CombinedPolicy:
    """Normalise a policy or a policy name to a :class:`CombinedPolicy`.

    Examples
    --------
    >>> as_combined("alliance-repair+feedback").name
    'feedback+alliance-repair'
    """
    if isinstance(policy, str):
        return policy_from_name(policy)
    if isinstance(policy, CombinedPolicy):
        return policy
    if isinstance(policy, Policy):
        return combine(policy)
    raise ValueError(f"policy must be a policy object or a name, got {type(policy).__name__}")
