"""Statistics for therapy outcome data.

Validated data, instruments, clinical significance, growth and dropout models.

The growth-model names are imported on first use, so that ``import trajectories`` (and
``setback describe``) does not pay for importing PyMC.
"""

from importlib import import_module

from trajectories.data import DataValidationError, TherapyData
from trajectories.instruments import Instrument, get_instrument

__all__ = ["DataValidationError", "DropoutSpec", "GrowthFit", "GrowthSpec", "Instrument",
           "Priors", "TherapyData", "fit_growth", "get_instrument"]

_LAZY = {"GrowthSpec": "trajectories.spec", "Priors": "trajectories.spec",
         "DropoutSpec": "trajectories.spec",
         "GrowthFit": "trajectories.fit", "fit_growth": "trajectories.fit"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'trajectories' has no attribute {name!r}")
