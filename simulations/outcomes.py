"""Deprecated import path, kept for one release: use simulations.clinic.outcomes."""

from simulations.clinic.outcomes import (
    HORIZON_OUTCOMES,
    MIN_CLUSTERS,
    OUTCOMES,
    RATIOS,
    FewClustersWarning,
    cluster_se,
    interval_method,
    patient_outcomes,
    rate_interval,
    rate_table,
    ratio_influence,
)

__all__ = [
    "FewClustersWarning",
    "HORIZON_OUTCOMES",
    "MIN_CLUSTERS",
    "OUTCOMES",
    "RATIOS",
    "cluster_se",
    "interval_method",
    "patient_outcomes",
    "rate_interval",
    "rate_table",
    "ratio_influence",
]
