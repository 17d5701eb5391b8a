"""Deprecated import path, kept for one release: use simulations.clinic.outcomes."""

from simulations.clinic.outcomes import (
    MIN_CLUSTERS,
    OUTCOMES,
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
    "MIN_CLUSTERS",
    "OUTCOMES",
    "cluster_se",
    "interval_method",
    "patient_outcomes",
    "rate_interval",
    "rate_table",
    "ratio_influence",
]
