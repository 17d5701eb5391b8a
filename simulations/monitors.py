"""Deprecated import path, kept for one release: use simulations.clinic.monitors."""

from simulations.clinic.monitors import (
    ExpectedRecoveryMonitor,
    FittedModelMonitor,
    Monitor,
    ReliableWorseningMonitor,
)

__all__ = [
    "ExpectedRecoveryMonitor",
    "FittedModelMonitor",
    "Monitor",
    "ReliableWorseningMonitor",
]
