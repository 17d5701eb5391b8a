"""Deprecated import path, kept for one release: use simulations.study.progress."""

from simulations.study.progress import (
    progress_bar,
)

__all__ = [
    "progress_bar",
]
