"""Deprecated import path, kept for one release: use simulations.clinic.config."""

from simulations.clinic.config import (
    TRAJECTORY_CLASSES,
    AllianceConfig,
    ClinicConfig,
    CourseConfig,
    DropoutConfig,
    FollowUpConfig,
    RiskConfig,
    RuptureConfig,
    TherapistConfig,
)

__all__ = [
    "AllianceConfig",
    "ClinicConfig",
    "CourseConfig",
    "DropoutConfig",
    "FollowUpConfig",
    "RiskConfig",
    "RuptureConfig",
    "TRAJECTORY_CLASSES",
    "TherapistConfig",
]
