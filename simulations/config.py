"""Deprecated import path, kept for one release: use simulations.clinic.config."""

from simulations.clinic.config import *  # noqa: F403 - re-export the new module's public names
from simulations.clinic.config import __all__  # noqa: F401 - as the new module lists them
