"""Deprecated import path, kept for one release: use simulations.study.metrics."""

from simulations.study.metrics import (
    METRICS,
    PERCENT_METRICS,
    default_metrics,
    parse_targets,
    performance,
    relative_precision,
    replications_needed,
    summarise,
)

__all__ = [
    "METRICS",
    "PERCENT_METRICS",
    "default_metrics",
    "parse_targets",
    "performance",
    "relative_precision",
    "replications_needed",
    "summarise",
]
