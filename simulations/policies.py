"""Deprecated import path, kept for one release: use simulations.clinic.policies."""

from simulations.clinic.policies import (
    AllianceRepair,
    ClinicalSupport,
    CombinedPolicy,
    Feedback,
    Policy,
    Referral,
    TreatmentAsUsual,
    combine,
    policy_from_name,
)

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
