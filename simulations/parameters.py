"""Deprecated import path, kept for one release: use simulations.clinic.parameters."""

from simulations.clinic.parameters import *  # noqa: F403 - re-export the new module's public names
from simulations.clinic.parameters import __all__  # noqa: F401 - as the new module lists them
