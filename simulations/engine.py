"""Deprecated import path, kept for one release: use simulations.clinic.engine."""

from simulations.clinic.engine import (
    DOMAINS,
    HOOKS,
    SESSION_TRUTH,
    ChunkResult,
    Record,
    chunk_seeds,
    run_chunk,
    setup,
    therapist_effects,
)

__all__ = [
    "ChunkResult",
    "DOMAINS",
    "HOOKS",
    "Record",
    "SESSION_TRUTH",
    "chunk_seeds",
    "run_chunk",
    "setup",
    "therapist_effects",
]
