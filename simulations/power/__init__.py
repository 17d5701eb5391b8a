"""Power and sample size of therapist-clustered trials.

Analytic (three-level formulas as in powerlmm), simulated with the real analysis models, sample-size
search and assurance.
"""

from simulations.power.analytic import (
    analytic_assurance,
    analytic_power,
    analytic_sample_size,
    power_curve,
    slope_variance,
)
from simulations.power.design import TrialDesign

__all__ = ["TrialDesign", "analytic_assurance", "analytic_power", "analytic_sample_size",
           "power_curve",
           "slope_variance"]
