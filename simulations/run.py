"""Deprecated import path, kept for one release: use simulations.study.run."""

from simulations.study.run import (
    StudyResults,
    condition_status,
    load_results,
    replay,
    run_study,
)

__all__ = [
    "StudyResults",
    "condition_status",
    "load_results",
    "replay",
    "run_study",
]
