"""Study tasks: the registry of named tasks and the built-in ones.

Importing this package registers ``t_interval``, ``policy_study``, ``trial_power``,
``monitor_study``, ``sbc`` and ``growth_power``.
"""

from simulations.tasks.builtin import policy_study, t_interval
from simulations.tasks.monitor import monitor_study
from simulations.tasks.power import growth_power
from simulations.tasks.registry import Task, available_tasks, get_task, register_task, task_name
from simulations.tasks.sbc import sbc_task
from simulations.tasks.trial import trial_power

__all__ = [
    "Task",
    "available_tasks",
    "get_task",
    "growth_power",
    "monitor_study",
    "policy_study",
    "register_task",
    "sbc_task",
    "t_interval",
    "task_name",
    "trial_power",
]
