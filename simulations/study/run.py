"""`run_study`: run every replication of a design through a task, serially or in parallel.

The runner plans blocks of replications ("chunks") per condition, hands them to an executor
and writes each finished chunk to the store. Each replication draws from its own
``SeedSequence`` (:meth:`StudyDesign.seed_sequence`), so the rows do not depend on the
executor, the number of workers, the chunk size or the order in which chunks finish, and
:func:`replay` reruns any single replication. A replication that raises is recorded as one
row with ``error`` set; warnings are recorded in ``warnings``. A condition stops at the
replication where ``max_consecutive_errors`` failures in a row are reached (later
replications are neither run nor kept), which is also independent of the executor because
it is decided in replication order.
"""

from __future__ import annotations

import time
import warnings
from collections import Counter, deque
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from simulations.study.design import RESERVED_COLUMNS, StudyDesign
from simulations.study.errors import FLAG_FAILURE_RATE, error_table, failure_table
from simulations.study.executors import (
    Dask,
    Processes,
    Serial,
    check_task,
    open_pool,
    resolve_executor,
)
from simulations.study.progress import progress_bar
from simulations.study.status import condition_status, replication_outcomes, stop_point
from simulations.study.store import ParquetStore, versions
from simulations.tasks.registry import Task, get_task, task_name

__all__ = ["StudyResults", "condition_status", "load_results", "replay", "run_study"]


@dataclass(frozen=True, eq=False)  # eq would compare DataFrames elementwise
class StudyResults:
    """The tidy per-replication table of a study, with its design and provenance.

    ``frame`` has ``condition_id``, the factor columns, ``replication``, ``spawn_key``, the
    task's columns (e.g. ``method``, ``estimand``, ``estimate``, ``truth``), ``error`` and
    ``warnings``. ``meta`` holds the root seed entropy, versions, task, executor and times.

    Examples
    --------
    >>> design = StudyDesign({"n": [5, 50]}, replications=20, seed=1)
    >>> results = run_study(design, "t_interval", executor="serial", progress=False)
    >>> results  # doctest: +ELLIPSIS
    StudyResults(task ...t_interval, seed 1: 2 conditions x 20 replications; 40 of 40 ...)
    >>> results.failures().empty
    True
    """

    frame: pd.DataFrame
    design: StudyDesign
    meta: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        f = self.frame
        reps = f.drop_duplicates(["condition_id", "replication"]) if len(f) else f
        failed = int(reps["error"].notna().sum()) if "error" in reps else 0
        planned = self.design.n_conditions * self.design.replications
        task = self.meta.get("task", "?")
        return (f"StudyResults(task {task}, seed {self.design.seed}: {self.design.n_conditions} "
                f"conditions x {self.design.replications} replications; {len(reps)} of "
                f"{planned} replications done, {failed} failed; {len(f)} rows)")

    def summarise(self, metrics: tuple[str, ...] | None = None, **options: Any) -> pd.DataFrame:
        """Compute performance measures with Monte Carlo SEs (:mod:`simulations.study.metrics`)."""
        from simulations.study.metrics import summarise

        return summarise(self, metrics=metrics, **options)

    def failures(self) -> pd.DataFrame:
        """Tabulate the failed replications: condition, replication, spawn key and error message."""
        failed = self.frame[self.frame["error"].notna()]
        return failed[["condition_id", "replication", "spawn_key", "error"]].reset_index(
            drop=True)

    def errors(self, kind: str = "error") -> pd.DataFrame:
        """Tabulate distinct error (or ``kind="warning"``) messages per condition.

        With the replications to :func:`replay`: see :func:`simulations.study.errors.error_table`.
        """
        return error_table(self.frame, self.design, kind=kind)

    def failure_table(self, threshold: float = FLAG_FAILURE_RATE) -> pd.DataFrame:
        """Tabulate replications done and failed per condition, with the failure flags.

        The stopping rule is the run's own ``max_consecutive_errors``: see
        :func:`simulations.study.errors.failure_table`.

        Examples
        --------
        >>> design = StudyDesign({"n": [1, 30]}, replications=5, seed=1)
        >>> results = run_study(design, "t_interval", executor="serial", progress=False)
        >>> results.failure_table()[["n", "failed", "failed_entirely"]]
            n  failed  failed_entirely
        0   1       5             True
        1  30       0            False
        """
        return failure_table(self.design, self.frame, threshold=threshold,
                             max_consecutive_errors=int(self.meta.get(
                                 "max_consecutive_errors", 20)))


def run_study(
    design: StudyDesign,
    task: Task | str,
    *,
    store: ParquetStore | None = None,
    executor: str | Serial | Processes | Dask = "processes",
    max_consecutive_errors: int = 20,
    progress: bool = True,
) -> StudyResults:
    """Run all replications of every condition of ``design`` through ``task``.

    Parameters
    ----------
    design : StudyDesign
        Conditions, replications and root seed.
    task : callable or str
        ``task(condition, rng) -> list[dict] | DataFrame``, a registered task name or
        ``"module:function"`` (see :mod:`simulations.tasks.registry`). For process and Dask
        executors it must be defined at module level in an importable module.
    store : ParquetStore or None
        Where finished chunks go. With a store, running the same study again resumes it:
        finished replications are skipped and none is duplicated. ``None`` keeps results in
        memory only.
    executor : {"processes", "serial", "dask"} or Serial, Processes, Dask
        ``"processes"`` uses one worker process per core; ``Processes(workers=2)`` sets the
        number; ``Dask(scheduler="tcp://host:8786")`` uses a running Dask cluster and
        ``"dask"`` starts a local one.
    max_consecutive_errors : int
        A condition stops after this many failed replications in a row.
    progress : bool
        Show a progress bar with the rate and the estimated time left.

    Returns
    -------
    StudyResults
        All replications in the store (or of this run), ordered by condition and replication.

    Raises
    ------
    simulations.study.store.StoreMismatchError
        If ``store`` holds results of a different design or task.

    See Also
    --------
    replay : Rerun one replication alone.
    simulations.study.metrics.summarise : Performance measures with Monte Carlo SEs.

    Examples
    --------
    >>> design = StudyDesign({"n": [5, 50], "dist": ["lognormal"]}, replications=200, seed=1)
    >>> results = run_study(design, "t_interval", executor="serial", progress=False)
    >>> results.frame.shape[0]
    400
    >>> results.summarise(("coverage",))[["n", "metric", "value", "mcse"]].round(3)
        n    metric  value   mcse
    0   5  coverage   0.86  0.025
    1  50  coverage   0.90  0.021
    """
    if isinstance(max_consecutive_errors, bool) or not isinstance(max_consecutive_errors, int) \
            or max_consecutive_errors < 1:
        raise ValueError(f"max_consecutive_errors must be a positive integer, "
                         f"got {max_consecutive_errors!r}")
    fn = get_task(task)
    spec = resolve_executor(executor)
    check_task(fn, spec)
    name = task_name(fn)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    chunk_size = store.chunk_size if store is not None else None
    chunk_size = chunk_size or max(1, min(25, -(-design.replications // 10)))
    frames: list[pd.DataFrame] = []
    if store is not None:
        store.lock()  # before open(), so a refused run leaves the manifest untouched
    try:
        if store is not None:
            store.open(design, name, same_task=lambda recorded: _names(recorded, fn))
            store.repair()
            store.record(max_consecutive_errors=max_consecutive_errors)
            frames.append(store.read())
        known = replication_outcomes(frames[0]) if frames else {}
        outcomes = {c: known.get(c, {}) for c in design.conditions()["condition_id"]}
        n_run = _schedule(design, fn, spec, store, outcomes, frames,
                          (chunk_size, max_consecutive_errors, progress))
    finally:
        if store is not None:
            store.unlock()
    frame = store.read() if store is not None else pd.concat(frames, ignore_index=True)
    meta = {"seed_entropy": design.seed, "task": name, "executor": repr(spec),
            "started": started, "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "n_run": n_run, "max_consecutive_errors": max_consecutive_errors, **versions()}
    if store is not None:
        store.record()
        meta["store"] = str(store.path)
    return StudyResults(_finalise(frame, design, max_consecutive_errors), design, meta)


def _names(recorded: str, fn: Task) -> bool:
    """Tell whether a task name recorded in a store resolves to ``fn``.

    For example a name from before the function moved module:
    :data:`simulations.tasks.registry.MOVED_TASKS`.
    """
    try:
        return get_task(recorded) is fn
    except ValueError:  # the recorded module or function no longer exists
        return False


def _schedule(design: StudyDesign, fn: Task, spec: Serial | Processes | Dask,
              store: ParquetStore | None, outcomes: dict[int, dict[int, bool]],
              frames: list[pd.DataFrame], settings: tuple[int, int, bool]) -> int:
    """Submit chunks, collect them as they finish, write them; returns replications run."""
    chunk_size, max_errors, show = settings
    queue: deque[tuple[int, int, int]] = deque()
    for cid in outcomes:
        # a stopped condition may still lack replications before its stop (a resumed run)
        halt = stop_point(outcomes[cid], max_errors)
        last = design.replications - 1 if halt is None else halt
        todo = [r for r in range(last + 1) if r not in outcomes[cid]]
        queue.extend((cid, block[0], block[-1] + 1) for block in _blocks(todo, chunk_size))
    if not queue:
        return 0
    bar = progress_bar(sum(stop - first for _, first, stop in queue), enabled=show)
    halted: dict[int, int] = {}  # condition -> replication at which it stopped
    n_run = n_failed = 0
    with open_pool(spec) as pool:
        pending: dict[Future, tuple[int, int, int]] = {}
        while queue or pending:
            while queue and len(pending) < pool.depth:
                cid, first, stop = queue.popleft()
                if cid in halted and first > halted[cid]:  # beyond the stop: never run
                    bar.total -= stop - first
                    continue
                # failures just before this chunk count towards its run (known when serial)
                prior = 0
                while prior < max_errors and outcomes[cid].get(first - 1 - prior, False):
                    prior += 1
                future = pool.submit(_run_chunk, fn, cid, design.condition(cid), design.seed,
                                     first, stop, max_errors - prior)
                pending[future] = (cid, first, stop)
            for future in pool.wait_any(list(pending)):
                cid, first, planned_stop = pending.pop(future)
                stop, chunk, seconds = future.result()
                if store is not None:
                    store.write_chunk(cid, first, stop, chunk, seconds=seconds)
                else:
                    frames.append(chunk)
                outcomes[cid].update(replication_outcomes(chunk).get(cid, {}))
                n_run += stop - first
                bar.total -= planned_stop - stop  # a chunk cut short by a run of failures
                failed = int(chunk.loc[chunk["error"].notna(), "replication"].nunique())
                if failed:
                    n_failed += failed
                    bar.set_postfix(failed=n_failed, refresh=False)
                bar.update(stop - first)
                # only a failure can complete a run of failures: skip the scan otherwise
                if failed:
                    halt = stop_point(outcomes[cid], max_errors)
                    if halt is not None:
                        halted[cid] = min(halt, halted.get(cid, halt))
    bar.close()
    return n_run


def _blocks(reps: list[int], size: int) -> list[list[int]]:
    """Split sorted replication numbers into runs of consecutive numbers of at most ``size``."""
    blocks: list[list[int]] = []
    for r in reps:
        if blocks and blocks[-1][-1] == r - 1 and len(blocks[-1]) < size:
            blocks[-1].append(r)
        else:
            blocks.append([r])
    return blocks


def _run_chunk(fn: Task, condition_id: int, condition: dict, seed: int, first: int,
               stop: int, max_errors: int) -> tuple[int, pd.DataFrame, float]:
    """Run replications ``first..stop-1`` in a worker; stops early at a run of failures.

    Returns the replication after the last one run, the rows and the seconds spent.
    """
    start = time.perf_counter()
    records: list[dict] = []
    run = 0
    for rep in range(first, stop):
        ss = np.random.SeedSequence(seed, spawn_key=(condition_id, rep))
        rows = _replicate(fn, condition_id, condition, rep, ss, catch=True)
        records += rows
        run = run + 1 if rows[0]["error"] is not None else 0
        if run >= max_errors:
            stop = rep + 1
            break
    frame = _normalise(pd.DataFrame.from_records(records))
    return stop, frame, time.perf_counter() - start


def _replicate(fn: Task, condition_id: int, condition: dict, replication: int,
               ss: np.random.SeedSequence, *, catch: bool) -> list[dict]:
    """One replication's tidy rows, with the key columns, ``error`` and ``warnings``."""
    error = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            rows = _as_records(fn(dict(condition), np.random.default_rng(ss)), condition)
        except BaseException as exc:  # recorded with its seed; replay() reraises it
            # BaseException: a Rust panic inside a sampler (pyo3's PanicException) is one,
            # and must fail one replication, not the study; a real interrupt still stops it
            if not catch or isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
                raise
            rows, error = [{}], f"{type(exc).__name__}: {exc}"
    counts = Counter(f"{w.category.__name__}: {w.message}" for w in caught)
    warned = "; ".join(m if n == 1 else f"{m} (x{n})" for m, n in counts.items()) or None
    keys = {"condition_id": condition_id, **condition, "replication": replication,
            "spawn_key": f"{condition_id},{replication}"}
    return [{**keys, **row, "error": error, "warnings": warned} for row in rows]


def _as_records(out: Any, condition: Mapping[str, Any]) -> list[dict]:
    if isinstance(out, pd.DataFrame):
        rows = out.to_dict("records")
    elif isinstance(out, list) and all(isinstance(r, Mapping) for r in out):
        rows = [dict(r) for r in out]
    else:
        raise TypeError(f"a task must return a list of dicts or a DataFrame, "
                        f"got {type(out).__name__}")
    if not rows:
        raise ValueError("the task returned no rows")
    clash = sorted({c for r in rows for c in r if c in RESERVED_COLUMNS or c in condition})
    if clash:
        raise ValueError(f"the task returned columns {clash} that the runner sets "
                         "(reserved names or factor names); rename them")
    return rows


def _normalise(frame: pd.DataFrame) -> pd.DataFrame:
    """One dtype per column whatever the chunking: text as ``str``, numbers as float."""
    for col in frame.columns:
        if frame[col].dtype != "object":
            continue
        kind = pd.api.types.infer_dtype(frame[col], skipna=True)
        if kind in ("string", "empty"):
            frame[col] = frame[col].astype("str")
        elif kind in ("floating", "integer", "mixed-integer-float"):
            frame[col] = frame[col].astype("float64")
    return frame


def _finalise(frame: pd.DataFrame, design: StudyDesign, max_errors: int) -> pd.DataFrame:
    """Order rows, drop replications after a condition's stop point, fix dtypes."""
    if "spawn_key" not in frame.columns:  # nothing has run yet
        return frame
    frame = frame.sort_values(["condition_id", "replication"], kind="stable")
    keep = np.ones(len(frame), dtype=bool)
    reps = frame["replication"].to_numpy()
    cids = frame["condition_id"].to_numpy()
    for cid, outcomes in replication_outcomes(frame).items():
        halt = stop_point(outcomes, max_errors)
        if halt is not None:
            keep &= ~((cids == cid) & (reps > halt))
    frame = _normalise(frame[keep].reset_index(drop=True))
    last = [c for c in ("error", "warnings") if c in frame.columns]
    return frame[[c for c in frame.columns if c not in last] + last]


def replay(design: StudyDesign, task: Task | str, condition_id: int,
           replication: int) -> pd.DataFrame:
    """Rerun one replication alone, with the seed it had in the study.

    Returns the same rows :func:`run_study` recorded for it; an exception the task raises
    propagates, with its traceback, instead of being recorded.

    Examples
    --------
    >>> design = StudyDesign({"n": [5, 50]}, replications=30, seed=4)
    >>> full = run_study(design, "t_interval", executor="serial", progress=False).frame
    >>> one = replay(design, "t_interval", condition_id=1, replication=17)
    >>> one["estimate"].item() == full.query("condition_id == 1 and replication == 17")[
    ...     "estimate"].item()
    True
    """
    if not 0 <= replication < design.replications:
        raise ValueError(f"replication must be in 0..{design.replications - 1}, "
                         f"got {replication}")
    rows = _replicate(get_task(task), condition_id, design.condition(condition_id),
                      replication, design.seed_sequence(condition_id, replication), catch=False)
    return _normalise(pd.DataFrame.from_records(rows))


def load_results(store: ParquetStore) -> StudyResults:
    """Load the results held in a store (finished so far), e.g. of a study still running.

    Examples
    --------
    >>> import tempfile
    >>> tmp = tempfile.TemporaryDirectory()
    >>> store = ParquetStore(tmp.name)
    >>> design = StudyDesign({"n": [10]}, replications=5, seed=2)
    >>> _ = run_study(design, "t_interval", store=store, executor="serial", progress=False)
    >>> results = load_results(store)
    >>> len(results.frame), results.meta["seed_entropy"]
    (5, 2)
    >>> tmp.cleanup()
    """
    manifest = store.manifest()
    design = store.design()
    max_errors = int(manifest.get("max_consecutive_errors", 20))
    meta = {k: manifest[k] for k in ("seed_entropy", "task", "created", "runs") if k in manifest}
    return StudyResults(_finalise(store.read(), design, max_errors), design,
                        {**meta, "max_consecutive_errors": max_errors, "store": str(store.path)})
