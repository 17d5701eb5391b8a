"""An exclusive lock on a file that the operating system releases when its holder ends.

:func:`acquire` takes ``fcntl.flock`` (``msvcrt.locking`` on Windows) on a lock file and
writes the holder (host, process id, start time) into it for the message others get. The
kernel, not a process id in the file, decides who holds it, so a lock left by a killed
process (SIGKILL, power cut) is free again, and of several processes that claim it at the
same moment exactly one succeeds: there is no "stale lock" to take over and no race in
taking it over.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["acquire", "release"]


def acquire(path: Path, *, owner: object = None) -> int:
    """Lock ``path`` (created if needed) for this process; return the open descriptor.

    Parameters
    ----------
    path : pathlib.Path
        The lock file.
    owner : object, optional
        What the lock protects, named in error messages (default: the file's folder).

    Raises
    ------
    RuntimeError
        If another process holds the lock, or the file names another host (a process
        there may hold it through a network file system whose locks do not reach here).

    Examples
    --------
    >>> import tempfile
    >>> tmp = tempfile.TemporaryDirectory()
    >>> path = Path(tmp.name) / "lock"
    >>> fd = acquire(path)
    >>> acquire(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    RuntimeError: ... is being written by process ... since ...; wait for that run to end ...
    >>> release(path, fd)
    >>> release(path, acquire(path))
    >>> tmp.cleanup()
    """
    owner = path.parent if owner is None else owner
    me = {"host": socket.gethostname(), "pid": os.getpid(),
          "since": datetime.now(UTC).isoformat(timespec="seconds")}
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_lock(fd):
            other = _read(fd)
            os.close(fd)
            raise RuntimeError(
                f"{owner} is being written by process {other.get('pid')} on "
                f"{other.get('host')} since {other.get('since')}; wait for that run to end "
                "or stop it")
        try:  # the holder may have released and removed the file before we locked it
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    other = _read(fd)
    if other.get("host") not in (None, me["host"]):
        os.close(fd)
        raise RuntimeError(
            f"{owner} was locked by process {other.get('pid')} on {other.get('host')} since "
            f"{other.get('since')}; if that run is gone, delete {path}")
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, json.dumps(me).encode())
    return fd


def release(path: Path, fd: int) -> None:
    """Release a lock from :func:`acquire` and remove its file.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder) / "lock"
    ...     release(path, acquire(path))
    ...     print(path.exists())
    False
    """
    if os.name == "nt":  # Windows cannot remove an open file
        os.close(fd)
        path.unlink(missing_ok=True)
    else:  # removed while still held, so no one can lock the old file in between
        path.unlink(missing_ok=True)
        os.close(fd)


def _try_lock(fd: int) -> bool:
    """Take an exclusive, non-blocking lock on an open file; False if another holds it."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _read(fd: int) -> dict[str, Any]:
    """Read the holder a lock file names ({} when empty, unreadable or being written)."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        other = json.loads(os.read(fd, 4096).decode("utf-8"))
    except (OSError, ValueError):
        return {}
    return other if isinstance(other, dict) else {}
