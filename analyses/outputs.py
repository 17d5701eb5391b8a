"""Output folders: no command deletes or overwrites a file it did not write.

Every command that writes a folder (``setback fit``, ``analyze``, ``report``, ``simulate``,
``compare-policies``, ``demo``, and ``study summarize`` inside a study folder) goes through
:class:`OutputFolder`:

1. **Whose folder.** A folder is a command's own output when it holds the marker
   ``.setback-output.json`` that the command wrote (its kind and the files of its last run);
   a study folder is marked by its own ``manifest.json`` (:mod:`simulations.study.store`).
2. **Refusal before work.** Writing into a non-empty folder that is not the command's own
   output is refused unless ``overwrite=True`` (``--overwrite``); a folder that holds
   another command's output (a fit folder for ``study run``, a study folder for ``fit``) is
   refused even then, so that two kinds of result never share a folder. So is a path that
   cannot be written: an existing file, a path below a file, a read-only or missing
   location (checked by creating and removing a probe folder where the output will go).
3. **Nothing half-written.** Files are written into a hidden temporary folder beside the
   target and moved into place only when the whole run has succeeded: a new folder in one
   rename, an existing one file by file with :func:`os.replace` (each file atomically;
   ``Ctrl-C`` and SIGTERM wait until the moves are done). An error, ``Ctrl-C`` or a kill
   before that leaves the previous run as it was.
4. **Runs never mix.** Files of the previous run of the same command that the new run does
   not write are removed (e.g. ``therapist_effects.csv`` of a three-level fit refitted to
   two-level data). With ``overwrite=True`` in an unmarked folder, files with the names
   this kind of command writes are treated the same way; any other file is left alone.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from simulations.study.store import NotAStudyError, ParquetStore

__all__ = ["KIND_FILES", "MARKER", "OutputFolder", "OutputFolderError", "check_writable",
           "output_kind", "write_file"]

MARKER = ".setback-output.json"
_TMP = ".setback-tmp-"
_REPORT = ("report.html", "meta.json", "tables/*.csv", "figures/*.png", "figures/*.svg")
_FIT = ("fit.nc", "summary.csv", "expected_change.csv", "therapist_effects.csv",
        "deterioration_risk.csv", "dropout_risk.csv", "meta.json")
#: The names each kind of output may hold (shell patterns, relative to the folder).
KIND_FILES: dict[str, tuple[str, ...]] = {
    "fit": _FIT, "analyze": _FIT + _REPORT, "report": _REPORT, "demo": _REPORT,
    "power": _REPORT,
    "simulate": ("sessions.parquet", "patients.parquet", "summary.json", "meta.json"),
    "compare-policies": ("comparison.csv", "comparison.png", "comparison.svg", "meta.json"),
    "study": ("summary.csv",),
    "predict": ("predictions.csv", "calibration.csv", "meta.json"),
}
_COMMAND = {"study": "setback study run", "demo": "setback demo"}


class OutputFolderError(ValueError):
    """An output folder that a command may not write into (the message says why).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = Path(folder, "taken").write_text("a file")
    ...     try:
    ...         check_writable(Path(folder, "taken"))
    ...     except OutputFolderError as err:
    ...         print(isinstance(err, ValueError), "is a file" in str(err))
    True True
    """


def _marker(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((path / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("kind"), str) else None


def output_kind(path: str | os.PathLike) -> str | None:
    """Return the kind of setback output a folder holds.

    ``"study"`` for a study folder (it has a study manifest), the kind its marker names (``"fit"``,
    ``"simulate"``, ...), or None.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     with OutputFolder(Path(folder, "sim"), "simulate") as out:
    ...         _ = (out.tmp / "summary.json").write_text("{}")
    ...     kinds = output_kind(Path(folder, "sim")), output_kind(folder)
    >>> kinds
    ('simulate', None)
    """
    path = Path(path)
    store = ParquetStore(path)
    if store.exists():
        try:
            store.manifest()
        except NotAStudyError:
            return None
        return "study"
    marker = _marker(path)
    return None if marker is None else marker["kind"]


def _command(kind: str) -> str:
    return f"`{_COMMAND.get(kind, 'setback ' + kind)}`"


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block is done (main thread only), then deliver."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {s: signal.signal(s, lambda signum, _: received.append(signum))
                for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, signal.SIG_DFL if handler is None else handler)
        if received:
            signal.raise_signal(received[0])


class OutputFolder:
    r"""A command's output folder, checked before the work and written all at once.

    Parameters
    ----------
    path : str or os.PathLike
        The folder (created if missing).
    kind : str
        What writes it: a key of :data:`KIND_FILES`.
    overwrite : bool
        Allow a non-empty folder that is not this kind's output (files with this kind's
        names are replaced or removed, others are left alone). A folder holding another
        setback output is refused even so.
    files : iterable of str, optional
        Names the run will write, checked now: in a study folder (``kind="study"``) an
        existing file of that name that setback did not write is refused unless
        ``overwrite``.

    Notes
    -----
    Use it as a context manager and write into :attr:`tmp`; the files are moved into place
    when the outermost ``with`` ends without an exception (an inner ``with`` on the same
    object, e.g. in a pipeline function given the folder, writes into the same :attr:`tmp`).

    Raises
    ------
    OutputFolderError
        If the folder may not be written (the message names it and the rule).

    Examples
    --------
    >>> import tempfile
    >>> tmp = tempfile.TemporaryDirectory()
    >>> out = Path(tmp.name) / "run"
    >>> with OutputFolder(out, "compare-policies") as folder:
    ...     _ = (folder.tmp / "comparison.csv").write_text("a,b\n1,2\n")
    >>> sorted(p.name for p in out.iterdir())
    ['.setback-output.json', 'comparison.csv']
    >>> _ = (out / "mine.txt").write_text("a file setback did not write")
    >>> OutputFolder(out, "simulate")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    analyses.outputs.OutputFolderError: ... holds the output of `setback compare-policies`...
    >>> tmp.cleanup()
    """

    def __init__(self, path: str | os.PathLike, kind: str, *, overwrite: bool = False,
                 files: Iterable[str] = ()) -> None:
        if kind not in KIND_FILES:
            raise ValueError(f"kind must be one of {sorted(KIND_FILES)}, got {kind!r}")
        self.path = Path(path)
        self.kind = kind
        self.overwrite = overwrite
        self.tmp: Path = Path()
        self._previous: set[str] = set()
        self._depth = 0  # re-entrant: an inner ``with`` writes into the outer one's folder
        self._check(list(files))

    def __repr__(self) -> str:
        return f"OutputFolder({str(self.path)!r}, {self.kind!r})"

    def final(self, name: str) -> Path:
        """Where a file written as ``self.tmp / name`` ends up."""
        return self.path / name

    def _check(self, files: list[str]) -> None:
        path = self.path
        check_writable(path)
        if not path.is_dir() or not any(path.iterdir()):
            if self.kind == "study":
                raise OutputFolderError(f"{path} holds no study (no manifest.json)")
            return
        kind = output_kind(path)
        marker = _marker(path)
        previous = set(marker.get("files", [])) if marker and marker["kind"] == self.kind else set()
        if kind is not None and kind != self.kind:
            raise OutputFolderError(
                f"{path} holds the output of {_command(kind)}; {_command(self.kind)} does not "
                "write into it (even with --overwrite): choose another folder")
        if kind is None:
            if self.kind == "study":
                raise OutputFolderError(f"{path} holds no study (no manifest.json)")
            if not self.overwrite:
                names = sorted(p.name for p in path.iterdir())
                shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
                raise OutputFolderError(
                    f"{path} is not empty ({shown}) and is not the output of "
                    f"{_command(self.kind)}: choose a new or empty folder, or pass --overwrite "
                    "to replace this command's files there (other files are left alone)")
            previous = {f for f in _files(path)
                        if any(fnmatch.fnmatchcase(f, p) for p in KIND_FILES[self.kind])}
        foreign = [f for f in files if (path / f).exists() and f not in previous]
        if foreign and not self.overwrite:
            raise OutputFolderError(
                f"{path / foreign[0]} exists and was not written by {_command(self.kind)}; "
                "pass --overwrite to replace it")
        self._previous = previous | set(foreign)

    def __enter__(self) -> OutputFolder:
        self._depth += 1
        if self._depth > 1:
            return self
        self._check([])  # the folder may have changed since the check before the work
        target = self.path.absolute()
        target.parent.mkdir(parents=True, exist_ok=True)
        for old in target.parent.glob(f".{target.name}{_TMP}*"):  # left by a killed run
            pid = old.name.rsplit("-", 2)[-2]
            if pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(old, ignore_errors=True)
        self.tmp = target.parent / f".{target.name}{_TMP}{os.getpid()}-{os.urandom(4).hex()}"
        self.tmp.mkdir()
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._depth -= 1
        if self._depth:
            return
        try:
            if exc_type is None:
                self._commit()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _commit(self) -> None:
        new = _files(self.tmp)
        marker = {"kind": self.kind, "files": new,
                  "written": datetime.now(UTC).isoformat(timespec="seconds")}
        (self.tmp / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        with _signals_deferred():
            if not self.path.exists() or (self.path.is_dir() and not any(self.path.iterdir())):
                try:  # a new folder: one rename, all or nothing
                    os.replace(self.tmp, self.path)
                    return
                except OSError:  # e.g. Windows, which cannot rename over a folder
                    pass
            for name in new:
                target = self.path / name
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(self.tmp / name, target)
            for name in sorted(self._previous - set(new)):
                stale = self.path / name
                if stale.is_file():
                    stale.unlink()
                    for folder in stale.parents:  # e.g. figures/ left empty
                        if folder == self.path or any(folder.iterdir()):
                            break
                        folder.rmdir()
            os.replace(self.tmp / MARKER, self.path / MARKER)


def check_writable(path: str | os.PathLike) -> None:
    """Refuse an output folder that cannot be created or written, before any work.

    The temporary folder goes beside it (in its parent, or the nearest existing ancestor) and the
    files into it, so both must take a new entry.

    Raises
    ------
    OutputFolderError
        If ``path`` is a file, lies below a file, or its location cannot be written.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     check_writable(Path(folder, "new", "out"))  # a folder that can be created: accepted
    ...     _ = Path(folder, "file").write_text("x")
    ...     try:
    ...         check_writable(Path(folder, "file", "below"))
    ...     except OutputFolderError:
    ...         print("refused: below a file")
    refused: below a file
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputFolderError(f"{path} is a file, not a folder: choose a folder for the "
                                "output")
    target = path.absolute()
    base = target.parent
    while not base.exists():
        base = base.parent
    if not base.is_dir():
        raise OutputFolderError(f"{path}: cannot be created, {base} is a file")
    for where in (base, target) if target.is_dir() else (base,):
        try:
            probe = tempfile.mkdtemp(prefix=".setback-probe-", dir=where)
        except OSError as exc:
            raise OutputFolderError(f"{path}: cannot write in {where} "
                                    f"({exc.strerror or exc}): choose another --out") from None
        os.rmdir(probe)


def write_file(path: str | os.PathLike, text: str, *, overwrite: bool = False) -> Path:
    r"""Write a single text file atomically (temporary file, then :func:`os.replace`).

    Raises
    ------
    OutputFolderError
        If the file exists and ``overwrite`` is false.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = write_file(Path(folder, "summary.csv"), "a,b\n1,2\n")
    ...     text = path.read_text()
    ...     try:
    ...         write_file(path, "again")
    ...     except OutputFolderError as err:
    ...         print(str(err).endswith("pass --overwrite to replace it"))
    True
    >>> text.splitlines()
    ['a,b', '1,2']
    """
    path = Path(path)
    if path.is_dir():
        raise OutputFolderError(f"{path} is a folder, not a file")
    if path.exists() and not overwrite:
        raise OutputFolderError(f"{path} exists; pass --overwrite to replace it")
    check_writable(path.parent)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}{_TMP}{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True
