"""Where a study's chunks run: in this process, in local worker processes, or on Dask.

The three executors are small frozen dataclasses passed to
:func:`simulations.study.run.run_study` (``executor=``); the strings ``"serial"``,
``"processes"`` and ``"dask"`` stand for their defaults. :func:`open_pool` turns one into a
context manager with ``submit`` and ``wait_any``, the only two operations the runner needs,
so the scheduling loop is the same for all three and the results cannot differ.

Worker processes end with the run: an exception in the runner (``Ctrl-C``, or SIGTERM,
which ``setback study run`` turns into one) terminates them at once instead of letting them
finish their chunks, and each worker is tied to its parent (:func:`tie_to_parent`), so it
also dies when the parent is killed outright (``kill -9``). Once the workers are gone,
multiprocessing's resource tracker sees its pipe close and exits too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

__all__ = ["JOBQUEUE", "Dask", "Processes", "Serial", "check_task", "jobqueue_cluster",
           "open_pool", "resolve_executor", "tie_to_parent"]


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Serial:
    """Run every replication in the calling process, in order (for debugging and doctests).

    Examples
    --------
    >>> from simulations.study.design import StudyDesign
    >>> from simulations.study.run import run_study
    >>> design = StudyDesign({"n": [5, 50]}, replications=10, seed=1)
    >>> results = run_study(design, "t_interval", executor=Serial(), progress=False)
    >>> len(results.frame), results.meta["executor"]
    (20, 'Serial()')
    """


@dataclass(frozen=True)
class Processes:
    """Run chunks in local worker processes.

    Parameters
    ----------
    workers : int or None
        Number of processes; ``None`` uses every core available to this process.

    Notes
    -----
    Workers are started with the ``spawn`` method on every platform: forking a process that
    already runs threads (Dask, BLAS, PyTensor) can deadlock, and spawn behaves the same on
    Linux, macOS and Windows. The task must therefore be importable (defined at module level).

    Examples
    --------
    >>> Processes(workers=2)
    Processes(workers=2)
    """

    workers: int | None = None

    def __post_init__(self) -> None:
        if self.workers is not None and (isinstance(self.workers, bool)
                                         or not isinstance(self.workers, int)
                                         or self.workers < 1):
            raise ValueError(f"workers must be a positive integer or None, got {self.workers!r}")


#: Batch systems a :class:`Dask` executor can start workers on, by dask-jobqueue class.
JOBQUEUE = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster",
            "lsf": "LSFCluster", "htcondor": "HTCondorCluster"}


@dataclass(frozen=True)
class Dask:
    """Run chunks on a Dask distributed cluster.

    Parameters
    ----------
    scheduler : str or None
        Address of a running scheduler, e.g. ``"tcp://10.0.0.5:8786"``. With neither it nor
        ``cluster``, a local cluster is started on the loopback interface for the study.
    workers : int or None
        Worker processes of the local cluster (one thread each); ignored otherwise.
        ``None`` uses every core.
    cluster : str, cluster object or None
        ``"slurm"``, ``"pbs"``, ``"sge"``, ``"lsf"`` or ``"htcondor"``: start a
        dask-jobqueue cluster whose workers are batch jobs (queue, cores, memory, walltime
        ... come from the user's Dask configuration, ``~/.config/dask/jobqueue.yaml``);
        or a cluster object already made (``SLURMCluster(...)``, ``LocalCluster(...)``),
        which the study uses and leaves running.
    jobs : int
        Batch jobs to submit for a jobqueue cluster (each runs the configured workers).

    Notes
    -----
    Workers of a remote cluster must be able to import setback and the task's module.
    A worker that is lost (a job killed at its walltime, a node that fails) loses only the
    chunks it was running: Dask runs them again on the other workers, and the study's store
    keeps every chunk that was finished, so a study whose whole allocation ended resumes
    with the same command.

    Examples
    --------
    >>> Dask(scheduler="tcp://10.0.0.5:8786")
    Dask(scheduler='tcp://10.0.0.5:8786', workers=None, cluster=None, jobs=1)
    """

    scheduler: str | None = None
    workers: int | None = None
    cluster: Any = None
    jobs: int = 1

    def __post_init__(self) -> None:
        Processes(self.workers)  # same validation of the worker count
        if isinstance(self.cluster, str) and self.cluster not in JOBQUEUE:
            raise ValueError(f"cluster must be one of {sorted(JOBQUEUE)} or a Dask cluster "
                             f"object, got {self.cluster!r}")
        if self.cluster is not None and not isinstance(self.cluster, str) and not hasattr(
                self.cluster, "scheduler_address"):
            raise ValueError(f"cluster {self.cluster!r} is not a Dask cluster (it has no "
                             "scheduler_address)")
        if self.cluster is not None and self.scheduler is not None:
            raise ValueError("give a scheduler address or a cluster, not both")
        if isinstance(self.jobs, bool) or not isinstance(self.jobs, int) or self.jobs < 1:
            raise ValueError(f"jobs must be a positive integer, got {self.jobs!r}")


def jobqueue_cluster(kind: str, **options: Any) -> Any:
    """Make a dask-jobqueue cluster of ``kind`` (``"slurm"``, ``"pbs"``, ...), not yet scaled.

    ``options`` override the user's Dask configuration (``cores``, ``memory``, ``queue``,
    ``walltime``, ``job_extra_directives`` ...). Submitting jobs is ``cluster.scale(jobs=n)``.

    Raises
    ------
    ImportError
        If dask-jobqueue is not installed (``pip install 'setback[cluster]'``).

    Examples
    --------
    >>> try:
    ...     jobqueue_cluster("no-such-batch-system")
    ... except ValueError as err:
    ...     print(str(err).split(" [")[0])
    kind must be one of
    """
    if kind not in JOBQUEUE:
        raise ValueError(f"kind must be one of {sorted(JOBQUEUE)}, got {kind!r}")
    try:
        import dask_jobqueue
    except ImportError as exc:
        raise ImportError("clusters on batch systems need dask-jobqueue; install setback "
                          "with the 'cluster' extra: pip install 'setback[cluster]'") from exc
    return getattr(dask_jobqueue, JOBQUEUE[kind])(**options)


def resolve_executor(executor: str | Serial | Processes | Dask) -> Serial | Processes | Dask:
    """Turn ``"serial"``, ``"processes"`` or ``"dask"`` into its executor; pass others through.

    Examples
    --------
    >>> resolve_executor("processes")
    Processes(workers=None)
    """
    if isinstance(executor, Serial | Processes | Dask):
        return executor
    named = {"serial": Serial, "processes": Processes, "dask": Dask}
    if executor not in named:
        raise ValueError(f"executor must be 'serial', 'processes', 'dask' or an executor "
                         f"object, got {executor!r}")
    return named[executor]()


def check_task(fn: Callable[..., Any], executor: Serial | Processes | Dask) -> None:
    """Fail early, with advice, when worker processes could not import the task.

    Worker processes find a task by its module and name, so a lambda, a nested function or
    a function defined in a notebook (an interactive ``__main__``) cannot run there. Dask
    pickles such functions by value, and the serial executor needs no pickling at all.

    Raises
    ------
    ValueError
        If ``executor`` is :class:`Processes` and the task is not importable.

    Examples
    --------
    >>> check_task(lambda condition, rng: [], Serial())  # the serial executor needs no import
    >>> try:
    ...     check_task(lambda condition, rng: [], Processes(workers=2))
    ... except ValueError as err:
    ...     print("lambda" in str(err))
    True
    """
    if not isinstance(executor, Processes):
        return
    import pickle
    import sys

    main = sys.modules.get("__main__")
    interactive = getattr(fn, "__module__", None) == "__main__" and not hasattr(main, "__file__")
    try:
        pickle.dumps(fn)
    except Exception as exc:  # pickling raises several types; the advice is the same
        interactive = True
        reason = f" ({exc})"
    else:
        reason = ""
    if interactive:
        raise ValueError(
            f"the task {getattr(fn, '__qualname__', fn)!r} cannot be sent to worker "
            f"processes{reason}: define it at module level in an importable .py file, or "
            "use executor='serial' or 'dask'")


class _Pool:
    """What the runner sees of an executor: submit a call, wait for any to finish."""

    def __init__(self, submit: Callable[..., Any], wait_any: Callable[[list], list],
                 n_workers: int, *, depth: int | None = None) -> None:
        self.submit = submit
        self.wait_any = wait_any
        self.n_workers = n_workers
        # calls in flight: two per worker keeps workers busy while results are written;
        # one when serial, since a serial call runs at submission
        self.depth = depth or 2 * n_workers


def _serial_submit(fn: Callable[..., Any], *args: Any) -> Future:
    future: Future = Future()
    try:
        future.set_result(fn(*args))
    except BaseException as exc:  # delivered through the future like a worker's exception
        future.set_exception(exc)
    return future


def tie_to_parent(parent: int) -> None:
    """Make this worker process end when the process ``parent`` ends, however it ends.

    On Linux the kernel sends the worker SIGKILL when its parent dies
    (``prctl(PR_SET_PDEATHSIG)``); elsewhere a daemon thread checks the parent every half
    second. ``Ctrl-C`` is ignored in workers: the terminal sends it to the whole process
    group, and the parent, which receives it too, stops the workers and keeps what they
    finished. Used as the ``initializer`` of the worker pool.

    Examples
    --------
    >>> import signal
    >>> previous = signal.getsignal(signal.SIGINT)
    >>> tie_to_parent(os.getppid())  # a worker ignores Ctrl-C and dies with its parent
    >>> signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    True
    >>> _ = signal.signal(signal.SIGINT, previous)
    """
    import signal
    import sys

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1  # from <linux/prctl.h>
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL))
    else:
        import threading
        import time

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(0.5)
            os._exit(1)

        threading.Thread(target=watch, daemon=True, name="setback-parent-watch").start()
    if os.getppid() != parent:  # the parent died before the tie was made
        os._exit(1)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Cancel queued chunks and terminate the workers now (not after their chunks)."""
    # no public API before Python 3.14 (terminate_workers); _processes is stable since 3.2,
    # and shutdown() drops it, so it is read first
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)


def _wait_any(futures: list) -> list:
    done, _ = wait(futures, return_when=FIRST_COMPLETED)
    return [f for f in futures if f in done]  # keep submission order for determinism


@contextmanager
def open_pool(executor: Serial | Processes | Dask) -> Iterator[_Pool]:
    """Start the executor's workers for the duration of a ``with`` block.

    Examples
    --------
    >>> with open_pool(Serial()) as pool:
    ...     pool.n_workers
    1
    """
    if isinstance(executor, Serial):
        yield _Pool(_serial_submit, _wait_any, 1, depth=1)
    elif isinstance(executor, Processes):
        import multiprocessing

        n = executor.workers or _cores()
        with ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=tie_to_parent, initargs=(os.getpid(),)) as pool:
            try:
                yield _Pool(pool.submit, _wait_any, n)
            except BaseException:  # Ctrl-C, SIGTERM turned into an exception, a failed task
                _stop_workers(pool)
                raise
    else:
        with _dask_client(executor) as client:
            import distributed

            def submit(fn: Callable[..., Any], *args: Any) -> Any:
                return client.submit(fn, *args, pure=False)

            def wait_any(futures: list) -> list:
                done, _ = distributed.wait(futures, return_when="FIRST_COMPLETED")
                return [f for f in futures if f in done]

            n = sum(w.get("nthreads", 1) for w in client.scheduler_info(n_workers=-1)
                    ["workers"].values()) or 1
            yield _Pool(submit, wait_any, n)


@contextmanager
def _dask_client(executor: Dask) -> Iterator[Any]:
    try:
        import distributed
    except ImportError as exc:
        raise ImportError("the Dask executor needs dask[distributed]; install setback with "
                          "the 'cluster' extra: pip install 'setback[cluster]'") from exc
    if executor.cluster is not None and not isinstance(executor.cluster, str):
        with distributed.Client(executor.cluster) as client:  # the caller's cluster
            yield client
        return
    if executor.cluster is not None:
        with jobqueue_cluster(executor.cluster) as cluster:
            cluster.scale(jobs=executor.jobs)
            with distributed.Client(cluster) as client:
                client.wait_for_workers(1, timeout="1h")  # jobs may wait in the queue
                yield client
        return
    if executor.scheduler is not None:
        try:
            client = distributed.Client(executor.scheduler, timeout="20s")
        except OSError as exc:  # a typo in the address should read as one, not a traceback
            raise ValueError(f"cannot reach the Dask scheduler at {executor.scheduler!r}: "
                             f"{exc}") from exc
        with client:
            yield client
        return
    with (distributed.LocalCluster(n_workers=executor.workers or _cores(), threads_per_worker=1,
                                   processes=True, host="127.0.0.1", dashboard_address=None)
          as cluster, distributed.Client(cluster) as client):
        yield client
