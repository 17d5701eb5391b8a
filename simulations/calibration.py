"""Deprecated import path, kept for one release: use simulations.clinic.calibration."""

from simulations.clinic.calibration import (
    TARGETS,
    Target,
    calibration_table,
    format_markdown,
)

__all__ = [
    "TARGETS",
    "Target",
    "calibration_table",
    "format_markdown",
]
