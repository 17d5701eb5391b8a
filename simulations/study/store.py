"""`ParquetStore`: a study's results on disk, one finished chunk at a time, resumable.

Layout of a store directory::

    manifest.json        design, task, root seed entropy, package versions, runs
    chunks.jsonl         one line per finished chunk: file, condition, replications, rows,
                         sha256 and compute seconds
    chunks/*.parquet     the result rows of one block of replications of one condition
    lock                 host and process id of the run writing to the store

What it touches: a store only ever writes, replaces or removes its own files (the names
above, chunks named ``c<condition>_r<first>-<stop>.parquet`` and their hidden temporary
files). A directory is a study folder when it holds a setback ``manifest.json``; starting a
study in a non-empty directory that is not one is refused unless ``allow_other_files=True``,
and even then other files are left alone.

Why it survives a crash (SIGKILL, power cut, ``Ctrl-C``): a chunk is written under a
temporary name, flushed to disk and renamed, and only then is its line appended to
``chunks.jsonl``. A chunk counts as finished only if its line parses, its file exists, its
SHA-256 matches and it has the recorded number of rows. Anything else (a half-written line,
an orphan or tampered file) is dropped when the store is opened for writing, and those
replications are run again. Only the process that calls
:func:`simulations.study.run.run_study` writes, so workers never race on the files.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import os
import platform
import re
import socket
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from simulations.study import filelock
from simulations.study.design import StudyDesign
from simulations.study.status import condition_status

__all__ = ["ChunkRecord", "NotAStudyError", "ParquetStore", "StoreChangedWarning",
           "StoreMismatchError"]

FORMAT_VERSION = 1
#: ``manifest["kind"]`` of a setback study (older manifests are recognised by their keys).
MANIFEST_KIND = "setback-study"
#: The store's own files in ``chunks/``: finished chunks and their temporary files.
_CHUNK_NAME = re.compile(r"(\.)?c\d{6,}_r\d{7,}-\d{7,}\.parquet(\.tmp-\d+)?")
_OWN_FILES = ("manifest.json", "chunks.jsonl", "chunks", "lock")


class StoreMismatchError(ValueError):
    """The store was written by a different study than the one being run.

    Examples
    --------
    >>> import tempfile
    >>> from simulations.study.run import run_study
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = run_study(StudyDesign({"n": [10]}, replications=2, seed=1), "t_interval",
    ...                   store=ParquetStore(folder), executor="serial", progress=False)
    ...     try:
    ...         run_study(StudyDesign({"n": [20]}, replications=2, seed=1), "t_interval",
    ...                   store=ParquetStore(folder), executor="serial", progress=False)
    ...     except StoreMismatchError as err:
    ...         print(isinstance(err, ValueError))
    True
    """


class NotAStudyError(ValueError):
    """The directory is not a setback study folder (or its manifest is invalid).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = (Path(folder) / "notes.txt").write_text("not a study")
    ...     try:
    ...         ParquetStore(folder).check_folder()
    ...     except NotAStudyError as err:
    ...         print(isinstance(err, ValueError))
    True
    """


class StoreChangedWarning(UserWarning):
    """A study is resumed with other code or library versions than its last run.

    Examples
    --------
    >>> issubclass(StoreChangedWarning, UserWarning)
    True
    """


@dataclass(frozen=True)
class ChunkRecord:
    """One finished chunk: replications ``first`` to ``stop - 1`` of one condition.

    ``seconds`` is the compute time the worker spent on it (for status and time estimates).

    Examples
    --------
    >>> import tempfile
    >>> from simulations.study.run import run_study
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     store = ParquetStore(folder)
    ...     _ = run_study(StudyDesign({"n": [10]}, replications=4, seed=1), "t_interval",
    ...                   store=store, executor="serial", progress=False)
    ...     records = store.chunks()
    >>> isinstance(records[0], ChunkRecord), sum(r.stop - r.first for r in records)
    (True, 4)
    """

    file: str
    condition_id: int
    first: int
    stop: int
    n_rows: int
    sha256: str
    seconds: float = 0.0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.cache
def code_fingerprint() -> str:
    """SHA-256 (first 16 hex digits) of the source of ``trajectories`` and ``simulations``.

    The package version stays the same while the code is edited, so a study resumed after
    a change to the simulator or a model would silently mix results of two codes; the
    fingerprint tells them apart. (A user's own task module is not covered.)
    """
    digest = hashlib.sha256()
    for package in ("trajectories", "simulations"):
        root = Path(importlib.import_module(package).__file__).parent
        for path in sorted(root.rglob("*.py")):
            digest.update(path.relative_to(root.parent).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def versions() -> dict[str, str]:
    """Versions (and the setback code) that can change a study's random streams or results."""
    import numpy
    import pyarrow

    try:
        from importlib.metadata import version

        setback = version("setback")
    except Exception:  # a source tree without installation
        setback = "unknown"
    return {"setback": setback, "setback_code": code_fingerprint(),
            "python": platform.python_version(), "numpy": numpy.__version__,
            "pandas": pd.__version__, "pyarrow": pyarrow.__version__}


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class ParquetStore:
    """A directory holding a study's manifest and its results as Parquet chunks.

    Parameters
    ----------
    path : str or os.PathLike
        Directory of the store; created when a study first writes to it.
    chunk_size : int or None
        Replications per chunk. ``None`` picks about a tenth of a condition's replications,
        between 1 and 25, so that an interrupted study loses little work. The chunk size
        changes neither the results nor resumption.
    allow_other_files : bool
        Start a study in a non-empty directory that holds no study. By default that is
        refused (:class:`NotAStudyError`), so that results never land among a user's files;
        either way, files the store did not write are never removed or replaced.

    Examples
    --------
    >>> import tempfile
    >>> from simulations.study.run import run_study
    >>> design = StudyDesign({"n": [10, 40]}, replications=20, seed=3)
    >>> tmp = tempfile.TemporaryDirectory()
    >>> store = ParquetStore(tmp.name)
    >>> first = run_study(design, "t_interval", store=store, executor="serial", progress=False)
    >>> again = run_study(design, "t_interval", store=store, executor="serial", progress=False)
    >>> len(again.frame), again.meta["n_run"]   # resumed: nothing left to run
    (40, 0)
    >>> store.status()[["condition_id", "done", "remaining", "failed"]]
       condition_id  done  remaining  failed
    0             0    20          0       0
    1             1    20          0       0
    >>> tmp.cleanup()
    """

    def __init__(self, path: str | os.PathLike, *, chunk_size: int | None = None,
                 allow_other_files: bool = False) -> None:
        if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
            raise ValueError(f"chunk_size must be a positive integer or None, got {chunk_size!r}")
        self.path = Path(path)
        self.chunk_size = chunk_size
        self.allow_other_files = allow_other_files
        self._lock_fd: int | None = None

    def __repr__(self) -> str:
        return f"ParquetStore({str(self.path)!r})"

    # -- manifest ---------------------------------------------------------------------------

    @property
    def manifest_path(self) -> Path:
        """Path of the study's ``manifest.json``."""
        return self.path / "manifest.json"

    def exists(self) -> bool:
        """Whether a study has been started in this directory (it has a ``manifest.json``)."""
        return self.manifest_path.is_file()

    def manifest(self) -> dict[str, Any]:
        """Read the manifest as a dict.

        Raises
        ------
        FileNotFoundError
            If no study has been started in this directory.
        NotAStudyError
            If ``manifest.json`` is not a setback study manifest.
        """
        if not self.exists():
            raise FileNotFoundError(f"{self.path} holds no study (no manifest.json); "
                                    "start one with run_study or `setback study run`")
        try:
            manifest = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise NotAStudyError(f"{self.manifest_path} is not valid JSON: {exc}") from exc
        keys = {"format", "design", "task", "runs"}
        if not isinstance(manifest, dict) or not keys <= set(manifest) \
                or manifest.get("kind", MANIFEST_KIND) != MANIFEST_KIND:
            raise NotAStudyError(f"{self.manifest_path} is not the manifest of a setback study "
                                 f"(it needs the keys {sorted(keys)}); use another directory")
        return manifest

    def check_folder(self) -> None:
        """Refuse now, before any work, a directory a study may not be written to.

        A file, a foreign ``manifest.json``, or a non-empty directory that holds no study (unless
        ``allow_other_files``).

        Raises
        ------
        NotAStudyError
            Naming the directory and the rule.
        """
        if self.path.exists() and not self.path.is_dir():
            raise NotAStudyError(f"{self.path} is a file, not a directory")
        if self.exists():
            self.manifest()  # a foreign manifest.json is refused here
            return
        others = sorted(p.name for p in self.path.iterdir()
                        if p.name not in _OWN_FILES) if self.path.is_dir() else []
        chunks = self.path / "chunks"
        if chunks.is_dir():
            others += [f"chunks/{p.name}" for p in sorted(chunks.iterdir())
                       if not _CHUNK_NAME.fullmatch(p.name)]
        if others and not self.allow_other_files:
            shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more"
                                             if len(others) > 5 else "")
            raise NotAStudyError(
                f"{self.path} is not empty ({shown}) and holds no study: results are only "
                "written to a new or empty directory or one with a study's manifest.json "
                "(pass allow_other_files=True, or --overwrite, to start a study there anyway; "
                "other files are left alone)")

    def design(self) -> StudyDesign:
        """Read the design recorded in the manifest, checked as a new design is.

        Raises
        ------
        NotAStudyError
            If the recorded design is invalid, e.g. its ``where`` filter is not an
            expression of :mod:`simulations.study.where` (a results folder cannot run code).
        """
        try:
            return StudyDesign.from_dict(self.manifest()["design"])
        except (ValueError, TypeError) as exc:
            raise NotAStudyError(f"{self.manifest_path}: the recorded design is invalid and "
                                 f"is not used: {exc}") from exc

    def open(self, design: StudyDesign, task: str, *,
             same_task: Callable[[str], bool] | None = None) -> None:
        """Create the store for a study, or check that it belongs to this study.

        The same design and task resume. Raising ``replications`` extends the study (seeds
        of the existing replications do not depend on the count); any other change is
        refused, because results of two studies would be mixed. Resuming finished work
        with other setback code (:func:`code_fingerprint`) or library versions warns
        (:class:`StoreChangedWarning`), naming what changed.

        Parameters
        ----------
        design : StudyDesign
            The study's design.
        task : str
            The task's name (:func:`simulations.tasks.registry.task_name`).
        same_task : callable or None
            ``same_task(recorded)`` says whether a different task name recorded in the store
            names the same task (an older name of the same function); the manifest then
            records ``task`` from now on. ``None`` requires the names to be equal.

        Raises
        ------
        StoreMismatchError
            If the store holds a different design or task, naming what changed.
        """
        self.check_folder()
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "chunks").mkdir(exist_ok=True)
        run = {"started": _now(), "versions": versions(), "host": socket.gethostname()}
        if not self.exists():
            manifest = {"kind": MANIFEST_KIND, "format": FORMAT_VERSION,
                        "design": design.to_dict(), "task": task,
                        "seed_entropy": design.seed, "created": run["started"], "runs": [run]}
            _write_atomic(self.manifest_path, json.dumps(manifest, indent=2))
            return
        manifest = self.manifest()
        old = StudyDesign.from_dict(manifest["design"])
        changes = design.differences(old)
        if old.replications < design.replications:
            changes = [c for c in changes if not c.startswith("replications:")]
        if manifest["task"] != task:
            if same_task is not None and same_task(manifest["task"]):
                manifest["task"] = task  # the same function under its current name
            else:
                changes.append(f"task: {manifest['task']!r} -> {task!r}")
        if changes:
            raise StoreMismatchError(
                f"{self.path} holds results of a different study ({'; '.join(changes)}). "
                "Use a new output directory, or restore the original design to resume."
            )
        last = manifest["runs"][-1].get("versions", {}) if manifest["runs"] else {}
        moved = [f"{k} {last[k]} -> {v}" for k, v in run["versions"].items()
                 if k in last and last[k] != v]
        if moved and self._read_index():  # recorded work; chunks() would hash every file
            warnings.warn(
                f"{self.path}: resuming a study whose finished replications were computed "
                f"with other code or versions ({'; '.join(moved)}); old and new "
                "replications are mixed in one result set. Use a new output directory for "
                "results from one code.", StoreChangedWarning, stacklevel=3)
        manifest["design"] = design.to_dict()
        manifest["runs"].append(run)
        _write_atomic(self.manifest_path, json.dumps(manifest, indent=2))

    # -- chunks -----------------------------------------------------------------------------

    @property
    def index_path(self) -> Path:
        """Path of the chunk index, ``chunks.jsonl`` (one JSON record per finished chunk)."""
        return self.path / "chunks.jsonl"

    def _read_index(self) -> list[ChunkRecord]:
        if not self.index_path.is_file():
            return []
        records: dict[str, ChunkRecord] = {}
        for line in self.index_path.read_text(encoding="utf-8").splitlines():
            try:
                record = ChunkRecord(**json.loads(line))
            except (ValueError, TypeError):  # a line cut short by a crash
                continue
            records[record.file] = record  # a chunk redone under the same name: last wins
        return list(records.values())

    def _is_valid(self, record: ChunkRecord) -> bool:
        path = self.path / "chunks" / record.file
        if not path.is_file() or _sha256(path) != record.sha256:
            return False
        try:
            import pyarrow.parquet as pq

            return pq.ParquetFile(path).metadata.num_rows == record.n_rows
        except Exception:  # any unreadable file is redone, whatever pyarrow raises
            return False

    def chunks(self) -> list[ChunkRecord]:
        """List the finished, intact chunks, ordered by condition and first replication."""
        valid = [r for r in self._read_index() if self._is_valid(r)]
        return sorted(valid, key=lambda r: (r.condition_id, r.first))

    def repair(self) -> list[str]:
        """Drop chunks that are corrupt, half-written or unrecorded, so they are run again.

        Only files with the store's own chunk names are considered; anything else in
        ``chunks/`` (a user's file, a folder) is left alone.

        Returns
        -------
        list of str
            The files removed.
        """
        valid = self.chunks()
        keep = {r.file for r in valid}
        removed = []
        folder = self.path / "chunks"
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            if path.name not in keep and _CHUNK_NAME.fullmatch(path.name) and path.is_file():
                path.unlink()
                removed.append(path.name)
        lines = "".join(json.dumps(r.__dict__) + "\n" for r in valid)
        _write_atomic(self.index_path, lines)
        return removed

    def write_chunk(self, condition_id: int, first: int, stop: int, rows: pd.DataFrame, *,
                    seconds: float = 0.0) -> None:
        """Write the rows of replications ``first..stop-1`` of one condition, atomically."""
        folder = self.path / "chunks"
        name = f"c{condition_id:06d}_r{first:07d}-{stop:07d}.parquet"
        tmp = folder / f".{name}.tmp-{os.getpid()}"
        rows.to_parquet(tmp, index=False)
        with tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, folder / name)
        record = ChunkRecord(name, int(condition_id), int(first), int(stop), len(rows),
                             _sha256(folder / name), round(float(seconds), 6))
        with self.index_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record.__dict__) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def read(self) -> pd.DataFrame:
        """All rows of the finished chunks, ordered by condition and replication."""
        frames = [pd.read_parquet(self.path / "chunks" / r.file) for r in self.chunks()]
        frames = [f for f in frames if len(f)]
        if not frames:
            return pd.DataFrame({"condition_id": pd.Series(dtype="int64"),
                                 "replication": pd.Series(dtype="int64")})
        return pd.concat(frames, ignore_index=True)

    def status(self) -> pd.DataFrame:
        """Per condition: replications done, remaining and failed, stop, and compute time.

        A condition has ``stopped`` when it hit the run's ``max_consecutive_errors``; its
        remaining replications are then not run. ``seconds`` is the worker time spent on the
        condition's stored chunks.
        """
        manifest = self.manifest()
        table = condition_status(self.design(), self.read(),
                                 manifest.get("max_consecutive_errors", 20))
        spent: dict[int, float] = {}
        for r in self.chunks():
            spent[r.condition_id] = spent.get(r.condition_id, 0.0) + r.seconds
        table["seconds"] = table["condition_id"].map(spent).fillna(0.0).astype(float)
        return table

    # -- lock -------------------------------------------------------------------------------

    def lock(self) -> None:
        """Claim the store for one writer, atomically (:func:`simulations.study.filelock.acquire`).

        The operating system releases the claim when the holding process ends, however it
        ends, so a lock left by a killed run is free again, and of several processes that
        claim it at the same moment exactly one succeeds.

        Raises
        ------
        RuntimeError
            If another process holds the lock, or the lock file names another host (a run
            there may still be writing through a network file system).
        NotAStudyError
            If the directory is not empty and holds no study (see ``allow_other_files``).
        """
        self.check_folder()
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock_fd = filelock.acquire(self.path / "lock", owner=self.path)

    def unlock(self) -> None:
        """Release the lock taken by :meth:`lock` (and remove the lock file)."""
        if self._lock_fd is not None:
            filelock.release(self.path / "lock", self._lock_fd)
            self._lock_fd = None

    def record(self, **entries: Any) -> None:
        """Add entries to the manifest (e.g. ``max_consecutive_errors``, the end time)."""
        manifest = self.manifest()
        manifest.update(entries)
        if manifest["runs"]:
            manifest["runs"][-1]["finished"] = _now()
        _write_atomic(self.manifest_path, json.dumps(manifest, indent=2))
