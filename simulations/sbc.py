"""Deprecated import path, kept for one release: use simulations.tasks.sbc."""

from simulations.tasks.sbc import (
    SBC_PARAMETERS,
    SBC_PRIOR,
    draw_prior,
    sbc_histogram,
    sbc_spec,
    sbc_task,
    sbc_uniformity,
    simulate_growth,
)

__all__ = [
    "SBC_PARAMETERS",
    "SBC_PRIOR",
    "draw_prior",
    "sbc_histogram",
    "sbc_spec",
    "sbc_task",
    "sbc_uniformity",
    "simulate_growth",
]
