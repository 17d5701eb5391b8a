"""run_study: determinism, replay, recorded errors and warnings, stopping, task resolution."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import toy_tasks

from simulations.study.design import StudyDesign
from simulations.study.executors import Dask, Processes, Serial, resolve_executor
from simulations.study.run import condition_status, replay, run_study
from simulations.tasks import available_tasks, get_task, register_task, task_name

DESIGN = StudyDesign({"n": [5, 20], "mu": [0.0, 1.0]}, replications=15, seed=11)


def _run(design: StudyDesign = DESIGN, task=toy_tasks.normal_mean, **kw) -> pd.DataFrame:  # noqa: ANN001
    return run_study(design, task, executor="serial", progress=False, **kw).frame


def test_same_seed_same_frame_and_documented_layout() -> None:
    a, b = _run(), _run()
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns[:5]) == ["condition_id", "n", "mu", "replication", "spawn_key"]
    assert list(a.columns[-2:]) == ["error", "warnings"]
    assert len(a) == 4 * 15 * 2  # two methods per replication
    assert a["spawn_key"].iloc[-1] == "3,14"
    assert a["error"].isna().all()


def test_other_seed_other_numbers() -> None:
    other = StudyDesign(DESIGN.factors, replications=15, seed=12)
    assert not _run()["estimate"].equals(_run(other)["estimate"])


def test_replay_reproduces_any_replication_alone() -> None:
    full = _run()
    for cid, rep in [(0, 0), (2, 7), (3, 14)]:
        one = replay(DESIGN, toy_tasks.normal_mean, cid, rep)
        expected = full[(full["condition_id"] == cid) & (full["replication"] == rep)]
        pd.testing.assert_frame_equal(one, expected.reset_index(drop=True))
    with pytest.raises(ValueError, match="replication must be in 0..14"):
        replay(DESIGN, toy_tasks.normal_mean, 0, 15)


def test_chunking_does_not_change_results(tmp_path) -> None:  # noqa: ANN001
    from simulations.study.store import ParquetStore

    # chunks of 7 split the 15 replications of a condition unevenly; rows must not change
    store = ParquetStore(tmp_path / "s", chunk_size=7)
    b = run_study(DESIGN, toy_tasks.normal_mean, store=store, executor="serial",
                  progress=False).frame
    pd.testing.assert_frame_equal(_run(), b)


def test_errors_and_warnings_are_recorded_and_replayable() -> None:
    design = StudyDesign({"p_fail": [0.3], "n": [5]}, replications=40, seed=3)
    res = run_study(design, toy_tasks.flaky, executor="serial", progress=False)
    failed = res.failures()
    assert 0 < len(failed) < 40
    assert failed["error"].str.startswith("RuntimeError: draw").all()
    warned = res.frame["warnings"].dropna()
    assert len(warned) and (warned == "UserWarning: unstable estimate").all()
    # the recorded seed reproduces the failure, which replay raises instead of recording
    cid, rep = failed.loc[0, ["condition_id", "replication"]]
    with pytest.raises(RuntimeError, match="below p_fail"):
        replay(design, toy_tasks.flaky, int(cid), int(rep))
    table = res.summarise(("bias",))
    assert (table["n_failed"] == len(failed)).all()
    assert (table["n_ok"] == 40 - len(failed)).all()


def test_condition_stops_after_consecutive_errors_in_replication_order() -> None:
    design = StudyDesign({"p_fail": [0.0, 0.9, 1.0], "n": [5]}, replications=60, seed=5)
    res = run_study(design, toy_tasks.flaky, executor="serial", progress=False,
                    max_consecutive_errors=4)
    status = condition_status(design, res.frame, 4).set_index("condition_id")
    assert status.loc[0, ["done", "remaining", "failed", "stopped"]].tolist() == [60, 0, 0, False]
    assert status.loc[2, ["done", "remaining", "failed", "stopped"]].tolist() == [4, 0, 4, True]
    assert bool(status.loc[1, "stopped"])
    # the last kept replication of a stopped condition ends a run of exactly 4 failures
    rows = res.frame[res.frame["condition_id"] == 1].drop_duplicates("replication")
    assert rows["error"].notna().iloc[-4:].all()
    assert res.frame.groupby("condition_id")["replication"].max().loc[2] == 3


@pytest.mark.parametrize(("task", "match"), [
    (lambda c, rng: 3.0, "must return a list of dicts or a DataFrame, got float"),
    (lambda c, rng: [], "returned no rows"),
    (lambda c, rng: [{"n": 1, "estimate": 0.0}], "columns \\['n'\\] that the runner sets"),
    (lambda c, rng: [{"error": 1}], "columns \\['error'\\]"),
])
def test_bad_task_output_is_a_recorded_error(task, match: str) -> None:  # noqa: ANN001
    design = StudyDesign({"n": [5]}, replications=2, seed=1)
    frame = _run(design, task)
    assert frame["error"].str.contains(match).all()


def test_dataframe_output_equals_list_output() -> None:
    def as_frame(condition: dict, rng) -> pd.DataFrame:  # noqa: ANN001
        return pd.DataFrame(toy_tasks.normal_mean(condition, rng))

    pd.testing.assert_frame_equal(_run(task=as_frame), _run())


def test_task_resolution() -> None:
    assert "t_interval" in available_tasks()
    assert get_task("toy_tasks:normal_mean") is toy_tasks.normal_mean
    assert task_name(toy_tasks.normal_mean) == "toy_tasks:normal_mean"
    register_task("toy_normal_mean", toy_tasks.normal_mean)
    assert task_name(get_task("toy_normal_mean")) == "toy_tasks:normal_mean"
    pd.testing.assert_frame_equal(_run(task="toy_normal_mean"), _run())
    with pytest.raises(ValueError, match="already registered"):
        register_task("toy_normal_mean", toy_tasks.slow_mean)
    with pytest.raises(ValueError, match="unknown task 'nope'"):
        get_task("nope")
    with pytest.raises(ValueError, match="cannot import task"):
        get_task("toy_tasks:missing")


def test_executor_options_are_validated() -> None:
    assert resolve_executor("serial") == Serial()
    assert resolve_executor("dask") == Dask()
    assert resolve_executor(Processes(3)) == Processes(3)
    with pytest.raises(ValueError, match="executor must be"):
        resolve_executor("threads")
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        Processes(0)
    with pytest.raises(ValueError, match="max_consecutive_errors"):
        run_study(DESIGN, toy_tasks.normal_mean, max_consecutive_errors=0)


def test_unimportable_task_is_refused_before_workers_start() -> None:
    with pytest.raises(ValueError, match="cannot be sent to worker processes.*module level"):
        run_study(DESIGN, lambda c, rng: [], executor=Processes(2), progress=False)



def test_policy_study_pairs_policy_and_tau_with_common_random_numbers() -> None:
    design = StudyDesign({"policy": ["feedback", "alliance-repair"], "n_patients": [150],
                          "caseload": [30], "p_success": [0.3, 0.9]}, replications=2, seed=5,
                         where="policy == 'alliance-repair' or p_success == 0.3")
    # kept: 0 (feedback; p_success ignored), 2 and 3 (repair at 0.3 and 0.9)
    res = run_study(design, "policy_study", executor="serial", progress=False)
    assert res.frame["error"].isna().all()
    ok = res.frame[res.frame["error"].isna()].set_index(
        ["condition_id", "replication", "method", "estimand"])["estimate"]
    for cid in (2, 3):
        for rep in (0, 1):
            diff = ok[cid, rep, "alliance-repair", "dropout_vs_tau"]
            assert diff == pytest.approx(ok[cid, rep, "alliance-repair", "dropout"]
                                         - ok[cid, rep, "tau", "dropout"], abs=1e-12)
    table = res.summarise(("mean",))
    assert {"dropout", "deteriorated_not_vs_tau", "failure"} <= set(table["estimand"])


def test_policy_study_rejects_unknown_factors() -> None:
    from simulations.tasks import policy_study

    with pytest.raises(ValueError, match="unknown factor\\(s\\) \\['casload'\\]"):
        policy_study({"casload": 20}, np.random.default_rng(0))
    with pytest.raises(ValueError, match="setting must be 'trial' or 'routine'"):
        policy_study({"setting": "inpatient"}, np.random.default_rng(0))


def test_progress_bar_counts_replications_and_failures(capsys) -> None:  # noqa: ANN001
    design = StudyDesign({"p_fail": [0.3, 1.0], "n": [5]}, replications=30, seed=3)
    quiet = run_study(design, toy_tasks.flaky, executor="serial", progress=False,
                      max_consecutive_errors=5).frame
    shown = run_study(design, toy_tasks.flaky, executor="serial", progress=True,
                      max_consecutive_errors=5).frame
    pd.testing.assert_frame_equal(quiet, shown)
    err = capsys.readouterr().err
    # the stopped condition shrinks the total from 60 to the replications actually run
    assert f"{quiet.drop_duplicates(['condition_id', 'replication']).shape[0]}/" in err
    assert "failed=" in err and "rep" in err
