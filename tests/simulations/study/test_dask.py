"""Executor equivalence: serial, two local processes and a real Dask cluster give equal rows.

The Dask cluster is started by the test on the loopback interface (a scheduler and two
worker processes), and the study connects to it by address, as it would to a remote one.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import toy_tasks

from simulations.study.design import StudyDesign
from simulations.study.executors import Dask, Processes
from simulations.study.run import run_study
from simulations.study.store import ParquetStore

distributed = pytest.importorskip("distributed")

# failures and a stopped condition are part of the comparison, not only clean rows
DESIGN = StudyDesign({"p_fail": [0.0, 0.3, 0.95], "n": [5, 20]}, replications=24, seed=17)


@pytest.fixture(scope="module")
def serial() -> pd.DataFrame:
    return run_study(DESIGN, toy_tasks.flaky, executor="serial", progress=False,
                     max_consecutive_errors=5).frame


@pytest.fixture(scope="module")
def cluster():  # noqa: ANN201
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        yield cluster


def test_two_processes_equal_serial(serial: pd.DataFrame) -> None:
    frame = run_study(DESIGN, toy_tasks.flaky, executor=Processes(2), progress=False,
                      max_consecutive_errors=5).frame
    pd.testing.assert_frame_equal(frame, serial)
    assert frame["error"].notna().any()


def test_dask_scheduler_equals_serial(serial: pd.DataFrame, cluster, tmp_path: Path) -> None:  # noqa: ANN001
    executor = Dask(scheduler=cluster.scheduler_address)
    assert executor.scheduler.startswith("tcp://127.0.0.1:")
    store = ParquetStore(tmp_path / "study", chunk_size=5)
    frame = run_study(DESIGN, toy_tasks.flaky, store=store, executor=executor,
                      progress=False, max_consecutive_errors=5).frame
    pd.testing.assert_frame_equal(frame, serial)
    # and a rerun through the cluster resumes with nothing left to do
    again = run_study(DESIGN, toy_tasks.flaky, store=store, executor=executor,
                      progress=False, max_consecutive_errors=5)
    assert again.meta["n_run"] == 0


@pytest.mark.slow  # waits for the connection timeout
def test_unreachable_scheduler_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'"):
        run_study(DESIGN, toy_tasks.flaky, executor=Dask("tcp://127.0.0.1:9"), progress=False)


def test_a_lost_worker_loses_no_replication(serial: pd.DataFrame, tmp_path: Path) -> None:
    # A worker killed mid-study (a batch job at its walltime, a failed node): Dask reruns
    # its chunks elsewhere and the stored study equals the serial one.
    import os
    import signal
    import threading
    import time

    os.environ["TOY_SLEEP"] = "0.02"  # set before the workers start: they inherit it
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        store = ParquetStore(tmp_path / "study", chunk_size=2)
        killed: list[int] = []

        def kill_one_worker() -> None:
            deadline = time.monotonic() + 60
            while not store.exists() or not store.chunks():  # some work is done
                if time.monotonic() > deadline:
                    return
                time.sleep(0.05)
            nanny = next(iter(cluster.workers.values()))
            pid = nanny.process.process.pid  # the worker process under its nanny
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

        try:
            thread = threading.Thread(target=kill_one_worker)
            thread.start()
            frame = run_study(DESIGN, toy_tasks.slow_flaky, store=store,
                              executor=Dask(cluster=cluster), progress=False,
                              max_consecutive_errors=5).frame
            thread.join()
        finally:
            os.environ.pop("TOY_SLEEP")
    assert killed, "no worker was killed"
    pd.testing.assert_frame_equal(frame, serial)


def test_jobqueue_clusters_build_batch_scripts() -> None:
    pytest.importorskip("dask_jobqueue")
    from simulations.study.executors import jobqueue_cluster

    for kind, directive in (("slurm", "#SBATCH"), ("pbs", "#PBS")):
        with jobqueue_cluster(kind, cores=1, memory="1GB", processes=1, walltime="00:10:00",
                              scheduler_options={"dashboard_address": ":0"}) as cluster:
            script = cluster.job_script()
        assert directive in script and "distributed.cli.dask_worker" in script
    with pytest.raises(ValueError, match="cluster must be one of"):
        Dask(cluster="slurmm")
    with pytest.raises(ValueError, match="not both"):
        Dask(scheduler="tcp://127.0.0.1:1", cluster="slurm")
