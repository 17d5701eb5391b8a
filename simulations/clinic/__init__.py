"""The clinic simulator: configuration, the session loop, policies, monitors and outcomes."""

from simulations.clinic.compare import compare_policies
from simulations.clinic.config import ClinicConfig
from simulations.clinic.monitors import ExpectedRecoveryMonitor
from simulations.clinic.policies import Policy, policy_from_name
from simulations.clinic.reference import observed_scores
from simulations.clinic.simulate import ClinicChunk, SimulatedClinic, simulate, simulate_chunks

__all__ = [
    "ClinicChunk",
    "ClinicConfig",
    "ExpectedRecoveryMonitor",
    "Policy",
    "SimulatedClinic",
    "compare_policies",
    "observed_scores",
    "policy_from_name",
    "simulate",
    "simulate_chunks",
]
