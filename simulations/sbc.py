"""Deprecated import path, kept for one release: use simulations.tasks.sbc."""

from simulations.tasks.sbc import (
    SBC_MODELS,
    SBC_PARAMETERS,
    SBC_PRIOR,
    draw_parameters,
    draw_prior,
    sbc_histogram,
    sbc_model,
    sbc_spec,
    sbc_task,
    sbc_uniformity,
    simulate_growth,
    simulate_sbc_data,
)

__all__ = [
    "SBC_MODELS",
    "SBC_PARAMETERS",
    "SBC_PRIOR",
    "draw_parameters",
    "draw_prior",
    "sbc_histogram",
    "sbc_model",
    "sbc_spec",
    "sbc_task",
    "sbc_uniformity",
    "simulate_growth",
    "simulate_sbc_data",
]
