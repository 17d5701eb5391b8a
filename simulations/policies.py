"""Deprecated import path, kept for one release: use simulations.clinic.policies."""

from simulations.clinic.policies import (
    AllianceFocusedSwitch,
    AllianceRepair,
    ClinicalSupport,
    CombinedPolicy,
    FailureLadder,
    Feedback,
    Policy,
    Referral,
    RepairTraining,
    TreatmentAsUsual,
    as_combined,
    combine,
    policy_from_name,
)

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
