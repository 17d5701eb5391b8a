"""`build_model(spec, data)`: the PyMC model of a growth spec. Never samples.

The model has latent patient and therapist effects (:mod:`trajectories.latent`); with
``spec.dropout`` it is the joint growth-dropout model (:mod:`trajectories.joint`). For
normal residuals :func:`trajectories.fit.fit_growth` samples the same posterior through the
collapsed density of :mod:`trajectories.engine.collapsed` instead, which needs no compiling;
this PyMC model is what prior checks, custom extensions and the other paths build on.
"""

from __future__ import annotations

from dataclasses import replace

import pymc as pm

from trajectories.data import TherapyData
from trajectories.design import Design, make_design
from trajectories.joint import build_joint_model
from trajectories.latent import build_latent_model
from trajectories.spec import GrowthSpec

__all__ = ["build_model"]


def build_model(spec: GrowthSpec, data: TherapyData, *, design: Design | None = None) -> pm.Model:
    """Build the PyMC model of a growth spec on data (never samples).

    Parameters
    ----------
    spec : GrowthSpec
        What to fit. With ``spec.dropout`` the joint growth-dropout model is returned.
    data : TherapyData
        Validated data. Without a therapist column the model is two-level.
    design : Design, optional
        Pre-computed :func:`~trajectories.design.make_design` output (saves recoding).

    Returns
    -------
    pymc.Model
        See :func:`trajectories.latent.build_latent_model` for its variables.

    Examples
    --------
    >>> from trajectories.datasets import load_beat_the_blues
    >>> model = build_model(GrowthSpec(time="log"), load_beat_the_blues())
    >>> "patient_effect" in model.named_vars
    True
    """
    if spec.dropout is not None:
        growth = replace(spec, dropout=None)
        return build_joint_model(growth, spec.dropout, data, design=design)
    return build_latent_model(spec, design if design is not None else make_design(spec, data))
