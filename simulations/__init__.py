"""Clinic simulator, policies, monitors, policy comparisons and simulation studies."""

from simulations.clinic import SimulatedClinic, simulate
from simulations.compare import compare_policies
from simulations.config import ClinicConfig
from simulations.design import StudyDesign
from simulations.monitors import ExpectedRecoveryMonitor
from simulations.policies import AllianceRepair, Feedback, policy_from_name
from simulations.run import run_study

__all__ = [
    "AllianceRepair",
    "ClinicConfig",
    "ExpectedRecoveryMonitor",
    "Feedback",
    "SimulatedClinic",
    "StudyDesign",
    "compare_policies",
    "policy_from_name",
    "run_study",
    "simulate",
]
