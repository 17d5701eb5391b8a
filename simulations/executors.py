"""Deprecated import path, kept for one release: use simulations.study.executors."""

from simulations.study.executors import (
    Dask,
    Processes,
    Serial,
    check_task,
    open_pool,
    resolve_executor,
    tie_to_parent,
)

__all__ = [
    "Dask",
    "Processes",
    "Serial",
    "check_task",
    "open_pool",
    "resolve_executor",
    "tie_to_parent",
]
