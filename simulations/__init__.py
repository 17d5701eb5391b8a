"""Clinic simulator, policies, monitors and policy comparisons."""

from simulations.clinic import SimulatedClinic, simulate, simulate_chunks
from simulations.compare import compare_policies
from simulations.config import ClinicConfig
from simulations.monitors import ExpectedRecoveryMonitor, ReliableWorseningMonitor
from simulations.policies import AllianceRepair, Feedback, policy_from_name

__all__ = [
    "AllianceRepair",
    "ClinicConfig",
    "ExpectedRecoveryMonitor",
    "Feedback",
    "ReliableWorseningMonitor",
    "SimulatedClinic",
    "compare_policies",
    "policy_from_name",
    "simulate",
    "simulate_chunks",
]
