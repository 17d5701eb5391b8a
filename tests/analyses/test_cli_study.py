"""`setback study run | status | summarize`: TOML in, resumable store, CSV table out."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from analyses.cli import main
from analyses.settings import load_study

CONFIGS = Path(__file__).resolve().parents[2] / "analyses" / "configs"

STUDY = """
[study]
task = "t_interval"
max_consecutive_errors = 5

[design]
replications = {reps}
seed = 3

[design.factors]
n = [5, 30]
dist = ["lognormal"]
"""


@pytest.fixture
def study(tmp_path: Path) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(STUDY.format(reps=40))
    return path


def test_run_status_summarize(study: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "out"
    assert main(["study", "run", str(study), "--out", str(out), "--workers", "1",
                 "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "ran 80 replications" in text
    assert "total: 80 of 80 replications done, 0 failed" in text

    assert main(["study", "run", str(study), "--out", str(out), "--workers", "1",
                 "--quiet"]) == 0
    assert "ran 0 replications" in capsys.readouterr().out  # resumed, nothing left

    assert main(["study", "status", str(out)]) == 0
    status = capsys.readouterr().out
    assert "condition_id" in status and "remaining" in status and "lognormal" in status

    assert main(["study", "summarize", str(out), "--metrics", "coverage,bias",
                 "--target-mcse", "coverage=0.01,bias=0.02"]) == 0
    assert "coverage" in capsys.readouterr().out
    table = pd.read_csv(out / "summary.csv")
    assert list(table.columns) == ["condition_id", "n", "dist", "method", "estimand", "metric",
                                   "value", "mcse", "n_ok", "n_failed", "n_needed"]
    assert table["metric"].tolist() == ["coverage", "bias"] * 2
    assert (table["n_ok"] == 40).all()
    # n_needed = n_ok (mcse / target)^2 with each metric's own target
    target = table["metric"].map({"coverage": 0.01, "bias": 0.02})
    expected = (40 * (table["mcse"] / target) ** 2).round(9).apply(math.ceil)
    assert table["n_needed"].tolist() == expected.tolist()


BROKEN = STUDY.replace('dist = ["lognormal"]', 'dist = ["lognormal", "lognorml"]')


def test_a_broken_condition_fails_the_run_and_its_errors_can_be_replayed(
        tmp_path: Path, capsys) -> None:  # noqa: ANN001
    toml = tmp_path / "broken.toml"
    toml.write_text(BROKEN.format(reps=10))
    out = tmp_path / "out"
    assert main(["study", "run", str(toml), "--out", str(out), "--workers", "1",
                 "--quiet"]) == 1
    err = capsys.readouterr().err
    message = ("ValueError: dist must be 'normal', 'lognormal' or 'exponential', "
               "got 'lognorml'")
    assert f"condition 1 (n=5, dist='lognorml'): all 5 replications failed: {message}" in err
    assert "condition 3 (n=30, dist='lognorml')" in err
    assert main(["study", "errors", str(out)]) == 1
    text = capsys.readouterr().out
    assert message in text and "0, 1, 2, 3, 4" in text  # the replications to replay
    assert f"setback study replay {out} --condition 1 --replication 0" in text
    assert main(["study", "replay", str(out), "--condition", "1", "--replication", "0"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and message in err  # the same error, with its traceback
    assert main(["study", "replay", str(out), "--condition", "0", "--replication", "3"]) == 0
    assert "lognormal" in capsys.readouterr().out
    # summarize and errors of the working conditions still work; bad targets exit 2
    for bad, why in (("bias=0", "must be a positive number"), ("bais=0.1", "unknown metric")):
        with pytest.raises(SystemExit) as exc:
            main(["study", "summarize", str(out), "--target-mcse", bad])
        assert exc.value.code == 2 and why in capsys.readouterr().err


def test_changed_design_in_same_directory_is_refused(study: Path, tmp_path: Path,
                                                     capsys) -> None:  # noqa: ANN001
    out = tmp_path / "out"
    assert main(["study", "run", str(study), "--out", str(out), "--workers", "1",
                 "--quiet"]) == 0
    study.write_text(STUDY.format(reps=40).replace("seed = 3", "seed = 4"))
    assert main(["study", "run", str(study), "--out", str(out), "--workers", "1",
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "different study (seed: 3 -> 4)" in err


@pytest.mark.parametrize(("edit", "message"), [
    (("[study]", "[study]\nworkers = 2"), "unknown key(s) ['workers']"),
    (("[design]", "[design]\nreps = 2"), "unknown key(s) ['reps']"),
    (("replications = 40", ""), "[design]: missing ['replications']"),
    (("task = \"t_interval\"", "task = \"nope\""), "unknown task 'nope'"),
    (("n = [5, 30]", "n = [5, 5]"), "repeated levels"),
    (("max_consecutive_errors = 5", "max_consecutive_errors = 0"), "positive integer"),
    (("[design]", "[design"), "is not valid TOML"),
])
def test_bad_study_files_exit_2_with_a_message(study: Path, tmp_path: Path, capsys,  # noqa: ANN001
                                               edit: tuple[str, str], message: str) -> None:
    study.write_text(STUDY.format(reps=40).replace(*edit))
    assert main(["study", "run", str(study), "--out", str(tmp_path / "o"), "--workers", "1",
                 "--quiet"]) == 2
    assert message in capsys.readouterr().err


def test_status_of_an_empty_directory(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    assert main(["study", "status", str(tmp_path)]) == 2
    assert "holds no study" in capsys.readouterr().err


def test_workers_and_scheduler_are_exclusive(study: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["study", "run", str(study), "--out", str(tmp_path), "--workers", "2",
              "--scheduler", "tcp://127.0.0.1:8786"])
    assert exc.value.code == 2


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("study_*.toml")), ids=lambda p: p.name)
def test_example_studies_load(path: Path) -> None:
    from simulations.tasks import get_task

    settings = load_study(path)
    assert settings.design.n_conditions >= 1 and settings.design.replications >= 20
    assert callable(get_task(settings.task))  # the task the example names exists


@pytest.mark.slow  # starts a Dask cluster (~10 s); tests/simulations/study/test_dask.py is fast
def test_run_on_a_local_dask_cluster_equals_serial(study: Path, tmp_path: Path,
                                                   capsys) -> None:  # noqa: ANN001
    pytest.importorskip("distributed")
    study.write_text(STUDY.format(reps=6))
    for name, how in (("serial", ["--workers", "1"]), ("dask", ["--scheduler", "local"])):
        assert main(["study", "run", str(study), "--out", str(tmp_path / name), *how,
                     "--quiet"]) == 0
        assert "ran 12 replications" in capsys.readouterr().out
    serial = pd.read_parquet(tmp_path / "serial" / "chunks").sort_values(
        ["condition_id", "replication"], ignore_index=True)
    dask = pd.read_parquet(tmp_path / "dask" / "chunks").sort_values(
        ["condition_id", "replication"], ignore_index=True)
    pd.testing.assert_frame_equal(serial, dask)


def _session(sid: int) -> list[int]:
    """Live processes of a session (a killed parent's orphans keep its session id)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # ended while we looked
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)"; comm may hold spaces
        if fields[0] != "Z" and int(fields[3]) == sid:
            found.append(int(entry))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_no_worker_outlives_a_killed_run(tmp_path: Path, how: str) -> None:
    # Issue 12, finding 7: workers and the resource tracker outlived kill -9 / SIGTERM of
    # `study run`. The run is started in its own session so that every process it starts,
    # orphaned or not, can be found by session id; each replication sleeps 5 s, so the
    # workers are busy when the parent is killed.
    toml = tmp_path / "slow.toml"
    toml.write_text('[study]\ntask = "toy_tasks:slow_mean"\n[design]\nreplications = 40\n'
                    'seed = 1\n[design.factors]\nn = [5]\n')
    tests = Path(__file__).resolve().parents[1] / "simulations" / "study"  # toy_tasks: cwd
    run = subprocess.Popen(
        [sys.executable, "-m", "analyses", "study", "run", str(toml), "--out",
         str(tmp_path / "out"), "--workers", "2", "--quiet"], cwd=tests,
        env={**os.environ, "TOY_SLEEP": "5"}, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(_session(run.pid)) < 4 and time.monotonic() < deadline:  # parent, tracker, 2
        time.sleep(0.05)
    assert len(_session(run.pid)) >= 4, "the run did not start its workers"
    os.kill(run.pid, getattr(signal, how))
    _, err = run.communicate(timeout=30)
    deadline = time.monotonic() + 5
    while _session(run.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _session(run.pid) == []
    if how == "SIGTERM":  # ended like Ctrl-C: message, exit 130, lock released
        assert run.returncode == 130 and b"interrupted; finished chunks are kept" in err
        assert not (tmp_path / "out" / "lock").exists()
