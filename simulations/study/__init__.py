"""The generic study runner: designs, seeds, executors, the Parquet store and metrics.

It knows nothing of clinics; what one replication does is a task (:mod:`simulations.tasks`).
"""

from simulations.study.design import StudyDesign
from simulations.study.executors import Dask, Processes, Serial
from simulations.study.metrics import summarise
from simulations.study.run import StudyResults, load_results, replay, run_study
from simulations.study.store import ParquetStore

__all__ = [
    "Dask",
    "ParquetStore",
    "Processes",
    "Serial",
    "StudyDesign",
    "StudyResults",
    "load_results",
    "replay",
    "run_study",
    "summarise",
]
