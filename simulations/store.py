"""Deprecated import path, kept for one release: use simulations.study.store."""

from simulations.study.store import (
    ChunkRecord,
    NotAStudyError,
    ParquetStore,
    StoreChangedWarning,
    StoreMismatchError,
)

__all__ = [
    "ChunkRecord",
    "NotAStudyError",
    "ParquetStore",
    "StoreChangedWarning",
    "StoreMismatchError",
]
