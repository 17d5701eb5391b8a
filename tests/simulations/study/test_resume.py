"""Kill a running study with SIGKILL and resume it: same table as an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import toy_tasks

from simulations.study.design import StudyDesign
from simulations.study.run import run_study
from simulations.study.store import ParquetStore

HERE = Path(__file__).resolve().parent
DESIGN = StudyDesign({"n": [5, 20], "mu": [0.0]}, replications=40, seed=31)
CHUNK = 4
N_CHUNKS = 2 * 40 // CHUNK

RUNNER = """
import sys
from simulations.study.design import StudyDesign
from simulations.study.executors import Processes
from simulations.study.run import run_study
from simulations.study.store import ParquetStore
import toy_tasks

if __name__ == "__main__":
    design = StudyDesign({{"n": [5, 20], "mu": [0.0]}}, replications=40, seed=31)
    run_study(design, toy_tasks.slow_mean, store=ParquetStore(sys.argv[1], chunk_size={chunk}),
              executor={executor}, progress=False)
"""


def _start(store: Path, executor: str) -> subprocess.Popen:
    env = {**os.environ, "TOY_SLEEP": "0.05",
           "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    script = RUNNER.format(chunk=CHUNK, executor=executor)
    # its own session, so that worker processes it spawns can be cleaned up with it
    return subprocess.Popen([sys.executable, "-c", script, str(store)], env=env,
                            start_new_session=True)


def _finished_chunks(store: Path) -> int:
    index = store / "chunks.jsonl"
    return len(index.read_text().splitlines()) if index.exists() else 0


def _kill_mid_run(store: Path, executor: str) -> int:
    proc = _start(store, executor)
    try:
        deadline = time.monotonic() + 40  # generous: a loaded machine starts workers slowly
        while _finished_chunks(store) < 3:
            assert proc.poll() is None, "the study ended before it could be killed"
            assert time.monotonic() < deadline, "no chunk finished within 40 s"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        try:  # the workers of the killed runner, if any survive it
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert proc.returncode == -signal.SIGKILL
    return _finished_chunks(store)


@pytest.mark.parametrize("executor", ["'serial'", "Processes(2)"])
def test_kill_and_resume_equals_uninterrupted_run(tmp_path: Path, executor: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    store_dir = tmp_path / "study"
    done_before = _kill_mid_run(store_dir, executor)
    assert 3 <= done_before < N_CHUNKS
    assert (store_dir / "lock").exists()  # left behind by the killed runner

    monkeypatch.setenv("TOY_SLEEP", "0")  # sleeping changes no number, only the timing
    resumed = run_study(DESIGN, toy_tasks.slow_mean, store=ParquetStore(store_dir,
                        chunk_size=CHUNK), executor="serial", progress=False)
    reference = run_study(DESIGN, toy_tasks.slow_mean, executor="serial", progress=False)

    assert 0 < resumed.meta["n_run"] <= 80 - CHUNK * 3
    pd.testing.assert_frame_equal(resumed.frame, reference.frame)
    keys = resumed.frame[["condition_id", "replication", "method"]]
    assert not keys.duplicated().any()
    assert len(keys.drop_duplicates(["condition_id", "replication"])) == 80
