"""Clinic simulator, policies, monitors, policy comparisons and simulation studies."""

from simulations.clinic.compare import compare_policies
from simulations.clinic.config import ClinicConfig
from simulations.clinic.monitors import ExpectedRecoveryMonitor
from simulations.clinic.policies import AllianceRepair, Feedback, policy_from_name
from simulations.clinic.simulate import SimulatedClinic, simulate
from simulations.study.design import StudyDesign
from simulations.study.run import run_study

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
