"""One queue for SQLite writers, across threads and processes.

SQLite lets one writer in at a time; the others wait in its busy handler, which sleeps in
growing steps (1, 2, 5, 10 ... 100 ms). Under load that turns a queue of a few short
commits into tens of milliseconds of sleeping: with two server processes the median event
took 50 ms. Writers here queue on a lock instead and are woken the moment it is free: a
thread lock within the process and an exclusive ``flock`` on ``<database>.lock`` between
processes (where the platform has ``fcntl``; elsewhere only the thread lock).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None  # type: ignore[assignment]


class WriterLock:
    """Context manager held around every write transaction of one SQLite database."""

    def __init__(self, database: str | Path) -> None:
        self._thread_lock = threading.Lock()
        self._path = Path(f"{Path(database).expanduser().resolve()}.lock")
        self._fd: int | None = None
        self._pid = -1

    def _file(self) -> int | None:
        if fcntl is None:
            return None
        if self._fd is None or self._pid != os.getpid():  # a forked child opens its own
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd

    def __enter__(self) -> WriterLock:
        self._thread_lock.acquire()
        try:
            fd = self._file()
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._fd is not None and fcntl is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def close(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = None
