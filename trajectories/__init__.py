"""Statistics for therapy outcome data: validated data, instruments, clinical significance."""

from trajectories.data import DataValidationError, TherapyData
from trajectories.instruments import Instrument, get_instrument

__all__ = ["DataValidationError", "Instrument", "TherapyData", "get_instrument"]
