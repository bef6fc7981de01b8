"""One queue for SQLite writers, across threads and processes.

SQLite lets one writer in at a time; the others wait in its busy handler, which sleeps in
growing steps (1, 2, 5, 10 ... 100 ms). Under load that turns a queue of a few short
commits into tens of milliseconds of sleeping: with two server processes the median event
took 50 ms. Writers here queue on a lock instead and are woken the moment it is free: a
thread lock within the process and an exclusive ``flock`` on ``<database>.lock`` between
processes (where the platform has ``fcntl``; elsewhere only the thread lock).

The lock file also holds the database's *change count*: a 64-bit counter that every write
transaction of every process raises by one after it has committed, while it still holds
the lock (:meth:`WriterLock.bump`). A process reads it from shared memory in well under a
microsecond (:meth:`WriterLock.changes`): a reader that saw the count at ``c`` before
reading something from the database knows that what it read is still current for as long
as the count stays ``c``, without asking the database again. Every writer of the database
must go through a ``WriterLock`` for that to hold, as every driftrec store does.
"""

from __future__ import annotations

import mmap
import os
import struct
import threading
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None  # type: ignore[assignment]

#: The change count: one little-endian unsigned 64-bit integer at the start of the file.
_COUNT = struct.Struct("<Q")
#: Execution option of a write connection: whether its transaction changes what the count
#: guards (see :func:`mark_changed`).
CHANGES = "driftrec_changes"


def mark_changed(conn) -> None:
    """Note that the write transaction on ``conn`` changes what readers keep: users'
    events and states or the shared ``meta`` values (``Store.transaction(changes=False)``
    leaves the count alone unless this is called)."""
    conn.execution_options(**{CHANGES: True})


class WriterLock:
    """Context manager held around every write transaction of one SQLite database."""

    def __init__(self, database: str | Path) -> None:
        self._thread_lock = threading.Lock()
        self._path = Path(f"{Path(database).expanduser().resolve()}.lock")
        self._fd: int | None = None
        self._count: mmap.mmap | None = None
        self._pid = -1

    def _file(self) -> int | None:
        if fcntl is None:
            return None
        if self._fd is None or self._pid != os.getpid():  # a forked child opens its own
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            if os.fstat(fd).st_size < _COUNT.size:
                # a new file (or one from before the count): growing it writes zeros, so
                # two processes doing this at once agree
                os.ftruncate(fd, _COUNT.size)
            self._count = mmap.mmap(fd, _COUNT.size)
            self._fd, self._pid = fd, os.getpid()
        return self._fd

    def changes(self) -> int | None:
        """The database's change count (see the module docstring); None where the
        platform has no ``fcntl`` (nothing is shared between processes there)."""
        if self._file() is None:
            return None
        return _COUNT.unpack_from(self._count)[0]

    def bump(self) -> tuple[int, int] | None:
        """Raise the change count by one; call it holding the lock, after a write
        transaction ended (committed or not). Returns the count before and after."""
        if self._file() is None:
            return None
        before = _COUNT.unpack_from(self._count)[0]
        _COUNT.pack_into(self._count, 0, before + 1)
        return before, before + 1

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
            if self._count is not None:
                self._count.close()
            os.close(self._fd)
        self._fd, self._count = None, None
