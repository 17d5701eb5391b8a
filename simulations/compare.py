"""Deprecated import path, kept for one release: use simulations.clinic.compare."""

from simulations.clinic.compare import (
    compare_policies,
)

__all__ = [
    "compare_policies",
]
