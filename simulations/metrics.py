"""Deprecated import path, kept for one release: use simulations.study.metrics."""

from simulations.study.metrics import (
    METRICS,
    performance,
    replications_needed,
    summarise,
)

__all__ = [
    "METRICS",
    "performance",
    "replications_needed",
    "summarise",
]
