"""Deprecated import path, kept for one release: use simulations.tasks.monitor."""

from simulations.tasks.monitor import (
    MONITOR_FACTORS,
    monitor_study,
    operating_characteristics,
)

__all__ = [
    "MONITOR_FACTORS",
    "monitor_study",
    "operating_characteristics",
]
