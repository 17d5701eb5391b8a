"""The clinic simulator: configuration, the session loop, policies, monitors and outcomes."""

from simulations.clinic.compare import compare_policies
from simulations.clinic.config import ClinicConfig
from simulations.clinic.monitors import ExpectedRecoveryMonitor
from simulations.clinic.policies import policy_from_name
from simulations.clinic.simulate import (
    ClinicChunk,
    SimulatedClinic,
    observed_scores,
    simulate,
    simulate_chunks,
)

__all__ = [
    "ClinicChunk",
    "ClinicConfig",
    "ExpectedRecoveryMonitor",
    "SimulatedClinic",
    "compare_policies",
    "observed_scores",
    "policy_from_name",
    "simulate",
    "simulate_chunks",
]
