"""Figures: each takes a tidy table from a compute function and returns matplotlib Axes.

Every function takes ``ax=`` to draw into an existing panel, and its ``See Also`` names the
function that computes its table.
"""

from analyses.plots.checks import plot_contrast, plot_predictive_check
from analyses.plots.data import (
    plot_clinical_significance,
    plot_dropout_hazard,
    plot_retention,
    plot_trajectories,
)
from analyses.plots.models import (
    plot_deterioration_risk,
    plot_expected_change,
    plot_recovery_curves,
    plot_risk_calibration,
    plot_therapist_effects,
)
from analyses.plots.simulation import plot_policy_differences, plot_policy_rates
from analyses.plots.study import (
    plot_nested_loop,
    plot_power_curve,
    plot_rank_ecdf,
    plot_sbc_ranks,
    plot_study_facets,
    plot_study_performance,
)

__all__ = [
    "plot_clinical_significance",
    "plot_contrast",
    "plot_deterioration_risk",
    "plot_dropout_hazard",
    "plot_expected_change",
    "plot_nested_loop",
    "plot_power_curve",
    "plot_rank_ecdf",
    "plot_recovery_curves",
    "plot_risk_calibration",
    "plot_sbc_ranks",
    "plot_therapist_effects",
    "plot_policy_differences",
    "plot_predictive_check",
    "plot_policy_rates",
    "plot_retention",
    "plot_study_facets",
    "plot_study_performance",
    "plot_trajectories",
]
