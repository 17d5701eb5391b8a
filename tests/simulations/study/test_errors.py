"""Errors and warnings as data: per condition counts, distinct messages, seeds to replay."""

from __future__ import annotations

import pytest
import toy_tasks

from simulations.study.design import StudyDesign
from simulations.study.errors import error_table, failure_summary, failure_table
from simulations.study.run import replay, run_study

DESIGN = StudyDesign({"p_fail": [0.0, 0.3, 1.0], "n": [5]}, replications=30, seed=8)


@pytest.fixture(scope="module")
def results():  # noqa: ANN201
    return run_study(DESIGN, toy_tasks.flaky, executor="serial", progress=False,
                     max_consecutive_errors=6)


def test_failure_table_counts_rates_and_flags(results) -> None:  # noqa: ANN001
    table = failure_table(DESIGN, results.frame, max_consecutive_errors=6,
                          threshold=0.05).set_index("condition_id")
    failed = results.frame[results.frame["error"].notna()].groupby("condition_id")[
        "replication"].nunique()
    assert table.loc[0, ["failed", "flagged", "failed_entirely"]].tolist() == [0, False, False]
    assert table.loc[1, "failed"] == failed[1] and 0 < table.loc[1, "failure_rate"] < 1
    assert bool(table.loc[1, "flagged"]) and not table.loc[1, "failed_entirely"]
    # all of its 6 replications (then it stopped) failed
    assert table.loc[2, ["done", "failed", "failed_entirely"]].tolist() == [6, 6, True]
    lines = failure_summary(table.reset_index(), ["p_fail", "n"])
    assert lines[0].startswith("condition 1 (p_fail=0.3, n=5): ")
    assert lines[1].startswith("condition 2 (p_fail=1.0, n=5): all 6 replications failed: "
                               "RuntimeError: draw")


def test_each_message_lists_replications_that_replay_it(results) -> None:  # noqa: ANN001
    errors = error_table(results.frame, DESIGN)
    assert set(errors["condition_id"]) == {1, 2}
    assert (errors["message"].str.startswith("RuntimeError: draw")).all()
    # messages carry the draw (3 decimals), so they are mostly distinct; every failed
    # replication is counted under exactly one message
    per_condition = errors.groupby("condition_id")["n_replications"].sum().to_dict()
    assert per_condition == results.failures().groupby("condition_id").size().to_dict()
    assert per_condition[2] == 6
    row = errors[errors["n_replications"] == 1].iloc[0]
    with pytest.raises(RuntimeError) as exc:
        replay(DESIGN, toy_tasks.flaky, int(row["condition_id"]), int(row["replications"]))
    assert f"RuntimeError: {exc.value}" == row["message"]
    warnings = results.errors("warning")
    assert warnings["message"].unique().tolist() == ["UserWarning: unstable estimate"]
    assert (warnings["n_occurrences"] == warnings["n_replications"]).all()


def test_a_non_interrupt_base_exception_fails_one_replication_not_the_study() -> None:
    # pyo3's PanicException (a Rust panic in nutpie) derives from BaseException
    design = StudyDesign({"p_fail": [0.5], "n": [5]}, replications=20, seed=1)
    res = run_study(design, toy_tasks.panics, executor="serial", progress=False)
    failed = res.failures()
    assert 0 < len(failed) < 20
    assert failed["error"].str.startswith("_Panic: called `Result::unwrap()`").all()
