"""Deprecated import path, kept for one release: use simulations.clinic.engine."""

from simulations.clinic.engine import (
    DOMAINS,
    SESSION_TRUTH,
    ChunkResult,
    Plan,
    run_chunk,
    therapist_effects,
)

__all__ = [
    "ChunkResult",
    "DOMAINS",
    "Plan",
    "SESSION_TRUTH",
    "run_chunk",
    "therapist_effects",
]
