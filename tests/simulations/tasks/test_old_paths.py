"""Module paths and task names from before the split into clinic/, study/ and tasks/ keep working.

The old module paths are re-export shims for one release; the old task names that stores
recorded ("module:qualname") resolve to the moved functions through
``simulations.tasks.registry.MOVED_TASKS``, which does not depend on the shims.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pandas as pd
import pytest

from simulations.study.design import StudyDesign
from simulations.study.run import load_results, run_study
from simulations.study.store import ParquetStore, StoreMismatchError
from simulations.tasks.registry import MOVED_TASKS, get_task, task_name

OLD_MODULES = {
    **{m: f"simulations.clinic.{m}" for m in (
        "config", "parameters", "engine", "policies", "monitors", "outcomes", "compare",
        "calibration")},
    **{m: f"simulations.study.{m}" for m in (
        "design", "run", "store", "executors", "metrics", "progress")},
    "tasks_trial": "simulations.tasks.trial", "tasks_monitor": "simulations.tasks.monitor",
    "sbc": "simulations.tasks.sbc",
}


@pytest.mark.parametrize(("old", "new"), sorted(OLD_MODULES.items()))
def test_old_module_path_reexports_the_same_objects(old: str, new: str) -> None:
    shim = importlib.import_module(f"simulations.{old}")
    target = importlib.import_module(new)
    assert "Deprecated import path" in shim.__doc__ and new in shim.__doc__
    assert sorted(shim.__all__) == sorted(target.__all__)
    assert all(getattr(shim, name) is getattr(target, name) for name in target.__all__)


def test_old_package_level_names_still_resolve() -> None:
    from simulations.clinic import SimulatedClinic, observed_scores, simulate, simulate_chunks
    from simulations.clinic.simulate import ClinicChunk
    from simulations.tasks import policy_study, t_interval

    assert ClinicChunk.__module__ == simulate.__module__ == "simulations.clinic.simulate"
    assert {SimulatedClinic.__name__, observed_scores.__name__, simulate_chunks.__name__} == {
        "SimulatedClinic", "observed_scores", "simulate_chunks"}
    assert get_task("simulations.tasks:t_interval") is t_interval
    assert get_task("simulations.tasks:policy_study") is policy_study


@pytest.mark.parametrize(("old", "new"), sorted(MOVED_TASKS.items()))
def test_moved_task_names_resolve_to_the_function_now_named(old: str, new: str) -> None:
    assert task_name(get_task(old)) == new
    # the shim module, while it exists, gives the same function
    module, _, attr = old.partition(":")
    assert getattr(importlib.import_module(module), attr) is get_task(new)


def test_store_recorded_under_an_old_task_name_resumes(tmp_path: Path) -> None:
    store = ParquetStore(tmp_path / "study", chunk_size=2)
    short = StudyDesign({"n": [5, 20]}, replications=4, seed=11)
    run_study(short, "t_interval", store=store, executor="serial", progress=False)
    manifest = json.loads(store.manifest_path.read_text(encoding="utf-8"))
    assert manifest["task"] == "simulations.tasks.builtin:t_interval"
    manifest["task"] = "simulations.tasks:t_interval"  # as written before the split
    store.manifest_path.write_text(json.dumps(manifest), encoding="utf-8")

    # status and summaries read the store without resolving the task
    assert store.status()["done"].tolist() == [4, 4]
    assert load_results(store).meta["task"] == "simulations.tasks:t_interval"

    longer = StudyDesign({"n": [5, 20]}, replications=7, seed=11)
    resumed = run_study(longer, "t_interval", store=store, executor="serial", progress=False)
    assert resumed.meta["n_run"] == 2 * 3  # only the three new replications per condition
    assert store.manifest()["task"] == "simulations.tasks.builtin:t_interval"
    fresh = run_study(longer, "t_interval", executor="serial", progress=False)
    pd.testing.assert_frame_equal(resumed.frame, fresh.frame)
    assert store.status()["remaining"].tolist() == [0, 0]
    assert not load_results(store).summarise(("coverage",)).empty


def test_old_name_of_another_task_is_still_refused(tmp_path: Path) -> None:
    store = ParquetStore(tmp_path / "study")
    design = StudyDesign({"n": [5]}, replications=2, seed=1)
    run_study(design, "t_interval", store=store, executor="serial", progress=False)
    manifest = store.manifest()
    manifest["task"] = "simulations.tasks:policy_study"
    store.manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(StoreMismatchError,
                       match="task: 'simulations.tasks:policy_study' -> "
                             "'simulations.tasks.builtin:t_interval'"):
        run_study(design, "t_interval", store=store, executor="serial", progress=False)
