"""What the clinic does with what it observes: policies as components with hooks.

Policies combine with ``+`` (or :func:`combine`), e.g. ``Feedback() + AllianceRepair()``, and
are named on the command line as ``tau``, ``feedback``, ``feedback+cst``, ``ladder``,
``alliance-repair``, ``alliance-repair+repair-training``, ``alliance-switch``, ``referral``
and other ``+`` combinations (:func:`policy_from_name`). A user writes a policy by subclassing
:class:`Policy` (``docs/simulator.md`` has one in 20 lines). Effect sizes live on the
policies, with their sources.
"""

from simulations.clinic.policies.alliance import (
    AllianceFocusedSwitch,
    AllianceRepair,
    RepairTraining,
)
from simulations.clinic.policies.base import CombinedPolicy, Policy, TreatmentAsUsual, combine
from simulations.clinic.policies.feedback import ClinicalSupport, Feedback
from simulations.clinic.policies.ladder import FailureLadder, Referral
from simulations.clinic.policies.names import as_combined, policy_from_name

__all__ = [
    "AllianceFocusedSwitch",
    "AllianceRepair",
    "ClinicalSupport",
    "CombinedPolicy",
    "FailureLadder",
    "Feedback",
    "Policy",
    "Referral",
    "RepairTraining",
    "TreatmentAsUsual",
    "as_combined",
    "combine",
    "policy_from_name",
]
