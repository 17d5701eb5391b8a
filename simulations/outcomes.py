"""Deprecated import path, kept for one release: use simulations.clinic.outcomes."""

from simulations.clinic.outcomes import (
    HORIZON_OUTCOMES,
    OUTCOMES,
    RATIOS,
    patient_outcomes,
    rate_table,
    ratio_influence,
)

__all__ = [
    "HORIZON_OUTCOMES",
    "OUTCOMES",
    "RATIOS",
    "patient_outcomes",
    "rate_table",
    "ratio_influence",
]
