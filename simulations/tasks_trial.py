"""Deprecated import path, kept for one release: use simulations.tasks.trial."""

from simulations.tasks.trial import (
    TRIAL_FACTORS,
    analyse_trial,
    trial_power,
    true_effect,
)

__all__ = [
    "TRIAL_FACTORS",
    "analyse_trial",
    "trial_power",
    "true_effect",
]
