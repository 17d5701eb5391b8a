"""The registry of named tasks: what one replication of a simulation study does.

A task is a plain function ``task(condition, rng)`` that takes the factor levels of one
condition (a dict) and a ``numpy.random.Generator`` and returns tidy rows, as a list of
dicts or a DataFrame. The usual columns are ``method``, ``estimand``, ``estimate``,
``truth``, ``se``, ``ci_low``, ``ci_high`` and ``p_value`` (what
:func:`simulations.study.metrics.summarise` understands), plus any outcome rates the study needs.
The function must be defined at module level so that worker processes can import it.

Tasks are found by name (:func:`register_task`) or by ``"module:function"``, which is how a
study TOML names a task defined in the user's own module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection, Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["MOVED_TASKS", "Task", "available_tasks", "check_factors", "get_task", "register_task",
           "task_metrics", "task_name"]

Task = Callable[[Mapping[str, Any], np.random.Generator], "list[dict] | pd.DataFrame"]

_REGISTRY: dict[str, Task] = {}
#: The performance measures that fit a task (what ``summarise`` reports by default).
_METRICS: dict[Task, tuple[str, ...]] = {}

#: Names under which stores recorded the built-in tasks before ``simulations`` was split into
#: the ``clinic``, ``study`` and ``tasks`` subpackages, and the names of the same functions
#: now. :func:`get_task` follows them, so a study started under an old name still resumes
#: after the old module paths are gone.
MOVED_TASKS: dict[str, str] = {
    "simulations.tasks:t_interval": "simulations.tasks.builtin:t_interval",
    "simulations.tasks:policy_study": "simulations.tasks.builtin:policy_study",
    "simulations.tasks_trial:trial_power": "simulations.tasks.trial:trial_power",
    "simulations.tasks_monitor:monitor_study": "simulations.tasks.monitor:monitor_study",
    "simulations.sbc:sbc_task": "simulations.tasks.sbc:sbc_task",
}


def register_task(name: str, fn: Task, *, metrics: tuple[str, ...] | None = None) -> None:
    """Make a task available by name, e.g. in a study TOML (``task = "name"``).

    ``metrics`` names the performance measures that fit the task (e.g. rank uniformity for
    simulation-based calibration, not bias): what
    :func:`simulations.study.metrics.summarise` and the study report show by default.

    Raises
    ------
    ValueError
        If the name contains ``":"`` (reserved for ``"module:function"``) or is taken by
        another function.

    Examples
    --------
    >>> def my_task(condition, rng):
    ...     return [{"estimand": "mean", "estimate": rng.normal()}]
    >>> register_task("my_task", my_task)
    >>> get_task("my_task") is my_task
    True
    """
    if not name or ":" in name:
        raise ValueError(f"task name {name!r} must be non-empty and contain no ':'")
    if not callable(fn):
        raise ValueError(f"task {name!r} must be callable, got {fn!r}")
    if name in _REGISTRY and _REGISTRY[name] is not fn:
        raise ValueError(f"task name {name!r} is already registered to "
                         f"{task_name(_REGISTRY[name])}")
    _REGISTRY[name] = fn
    if metrics is not None:
        _METRICS[fn] = tuple(metrics)


def check_factors(task: str, condition: Mapping[str, Any], known: Collection[str]) -> None:
    """Refuse a condition with a factor the task does not understand (e.g. a typo), naming it.

    Raises
    ------
    ValueError
        ``"<task>: unknown factor(s) [...]; it understands [...]"``.

    Examples
    --------
    >>> try:
    ...     check_factors("my task", {"n": 10, "mu": 0}, ["n", "sd"])
    ... except ValueError as err:
    ...     print(err)
    my task: unknown factor(s) ['mu']; it understands ['n', 'sd']
    """
    unknown = sorted(set(condition) - set(known))
    if unknown:
        raise ValueError(f"{task}: unknown factor(s) {unknown}; it understands {sorted(known)}")


def task_metrics(fn: Task) -> tuple[str, ...] | None:
    """Return the performance measures registered for a task (``None``: chosen from columns).

    Examples
    --------
    >>> task_metrics(get_task("sbc"))
    ('coverage', 'mean_rank', 'uniformity')
    """
    return _METRICS.get(fn)


def get_task(task: str | Task) -> Task:
    """Resolve a task given as a function, a registered name or ``"module:function"``.

    Raises
    ------
    ValueError
        If the name is neither registered nor an importable ``"module:function"``.

    Examples
    --------
    >>> get_task("t_interval") is get_task("simulations.tasks.builtin:t_interval")
    True
    >>> get_task("simulations.tasks_trial:trial_power") is get_task("trial_power")  # moved
    True
    """
    if callable(task):
        return task
    task = MOVED_TASKS.get(task, task)
    if task in _REGISTRY:
        return _REGISTRY[task]
    if ":" not in task:
        raise ValueError(f"unknown task {task!r}; registered tasks are {available_tasks()}, "
                         "or give 'module:function'")
    module_name, _, attr = task.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot import task {task!r}: {exc}") from exc
    if not callable(obj):
        raise ValueError(f"task {task!r} is not callable")
    return obj


def task_name(fn: Task) -> str:
    """Return the name a study records for a task: ``"module:function"``, whatever alias found it.

    A registered name is only a way to look the function up, so a study started with
    ``task="t_interval"`` and resumed with the function itself is the same study.

    Examples
    --------
    >>> task_name(get_task("t_interval"))
    'simulations.tasks.builtin:t_interval'
    """
    return f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"


def available_tasks() -> list[str]:
    """Names of the registered tasks, sorted.

    Examples
    --------
    >>> names = available_tasks()  # the built-in tasks, and any registered since
    >>> {"growth_power", "monitor_study", "policy_study", "sbc", "t_interval",
    ...  "trial_power"} <= set(names), names == sorted(names)
    (True, True)
    """
    return sorted(_REGISTRY)
