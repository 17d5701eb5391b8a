"""Deprecated import path, kept for one release: use simulations.study.executors."""

from simulations.study.executors import (
    JOBQUEUE,
    Dask,
    Processes,
    Serial,
    check_task,
    jobqueue_cluster,
    open_pool,
    resolve_executor,
    tie_to_parent,
)

__all__ = [
    "Dask",
    "JOBQUEUE",
    "Processes",
    "Serial",
    "check_task",
    "jobqueue_cluster",
    "open_pool",
    "resolve_executor",
    "tie_to_parent",
]
