"""Deprecated import path, kept for one release: use simulations.clinic.config."""

from simulations.clinic.config import (
    TRAJECTORY_CLASSES,
    AllianceConfig,
    ClinicConfig,
    CourseConfig,
    DropoutConfig,
    RiskConfig,
    TherapistConfig,
)

__all__ = [
    "AllianceConfig",
    "ClinicConfig",
    "CourseConfig",
    "DropoutConfig",
    "RiskConfig",
    "TRAJECTORY_CLASSES",
    "TherapistConfig",
]
