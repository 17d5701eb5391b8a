"""Deprecated import path, kept for one release: use simulations.clinic.parameters."""

from simulations.clinic.parameters import (
    TRAJECTORY_CLASSES,
    AllianceConfig,
    CourseConfig,
    DropoutConfig,
    FollowUpConfig,
    RiskConfig,
    TherapistConfig,
)

__all__ = [
    "AllianceConfig",
    "CourseConfig",
    "DropoutConfig",
    "FollowUpConfig",
    "RiskConfig",
    "TRAJECTORY_CLASSES",
    "TherapistConfig",
]
