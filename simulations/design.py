"""Deprecated import path, kept for one release: use simulations.study.design."""

from simulations.study.design import (
    RESERVED_COLUMNS,
    StudyDesign,
)

__all__ = [
    "RESERVED_COLUMNS",
    "StudyDesign",
]
