"""Group commit: concurrent writes share one transaction and one fsync.

Writes are events (``POST /v1/events``) and impressions (the lists the service served).

Each request hands its events to :class:`GroupCommitter` and waits. One writer thread takes
everything queued, writes it with :meth:`Store.add_event_groups` (events plus the users'
new interest states, one transaction), and only then answers each request. Under load the
queue fills while the previous commit runs, so batches form by themselves and no request
waits for a timer. Each request stays all-or-nothing: a request that reuses an
``event_id`` gets its own error without costing the others their events.

Impressions do not wait (:meth:`GroupCommitter.record`) and do not wake the writer: a
served list is answered at once, put in a buffer, and written by the next commit, at most
``IMPRESSION_LINGER_S`` later, together with the lists served meanwhile. Waking the writer
for every list cost each answer a switch of the interpreter lock between threads, about a
sixth of the recommendations a process serves. Every commit takes the whole buffer, so an
event posted after a list was served is never stored before that list's impression.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future

import numpy as np

from driftrec.store import NewEvent, Store
from driftrec.store.store import StateUpdater, UserWrite

log = logging.getLogger(__name__)

#: Events, their text vectors and the waiting request's future.
_Request = tuple[Sequence[NewEvent], dict[str, np.ndarray], Future]

#: Most requests one transaction takes (bounds the work a failure has to redo).
MAX_GROUPS = 64
#: Longest time a served list waits in the buffer before it is written.
IMPRESSION_LINGER_S = 0.05


class GroupCommitter:
    """One writer thread per process that commits queued requests together."""

    def __init__(self, store: Store,
                 make_updater: Callable[[Mapping[str, np.ndarray], list[NewEvent]],
                                        StateUpdater],
                 max_groups: int = MAX_GROUPS, linger_s: float = IMPRESSION_LINGER_S,
                 on_written: Callable[[dict[str, UserWrite], StateUpdater], None] | None = None
                 ) -> None:
        self.store = store
        #: Called once per commit with the text vectors and the events of the batch.
        self.make_updater = make_updater
        #: Called after each commit, before any request is answered, with the users
        #: written and the updater that computed their states (e.g. to refresh the
        #: process's in-memory contexts of those users).
        self.on_written = on_written
        self.max_groups = max_groups
        self.linger_s = linger_s
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._served: deque[dict] = deque()  # impressions for the next commit
        self._thread = threading.Thread(target=self._run, name="driftrec-group-commit",
                                        daemon=True)
        self._thread.start()
        self.commits = 0
        self.requests = 0

    def submit(self, events: Sequence[NewEvent],
               text_vectors: Mapping[str, np.ndarray] | None = None) -> tuple[int, int]:
        """Store ``events`` durably; returns ``(accepted, duplicates)`` once committed.

        ``text_vectors`` are the embeddings of the events' texts (encoded by the caller,
        outside the writer). Raises what the store raised for this request (e.g.
        ``EventIdConflict``).
        """
        return self.enqueue(events, text_vectors).result()

    def enqueue(self, events: Sequence[NewEvent],
                text_vectors: Mapping[str, np.ndarray] | None = None) -> Future:
        """:meth:`submit` without waiting: the future holds ``(accepted, duplicates)`` (or
        the store's error) once the events are durable; an async handler awaits it."""
        done: Future = Future()
        self._check_running()
        self._queue.put((events, dict(text_vectors or {}), done))
        return done

    def record(self, impressions: Sequence[dict]) -> None:
        """Buffer served lists for the next commit, without waiting for it or waking the
        writer (a failed commit is logged; impressions are the feedback loop's evidence,
        not acknowledged data)."""
        self._check_running()
        self._served.extend(impressions)

    def flush(self) -> None:
        """Return once everything queued or buffered before the call is committed."""
        self.submit(())

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _check_running(self) -> None:
        if not self._thread.is_alive():
            raise RuntimeError("the event writer has stopped")

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=self.linger_s)
            except queue.Empty:
                if self._served:
                    self._commit([])  # the lists served meanwhile, on their own
                continue
            if first is None:
                if self._served:
                    self._commit([])
                return
            batch = [first]
            while len(batch) < self.max_groups:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)  # finish this batch, then stop
                    break
                batch.append(nxt)
            self._commit(batch)

    def _take_served(self) -> list[dict]:
        """Everything buffered so far (lists served later wait for the next commit)."""
        taken = []
        while True:
            try:
                taken.append(self._served.popleft())
            except IndexError:
                return taken

    def _commit(self, batch: list[_Request]) -> None:
        vectors: dict[str, np.ndarray] = {}
        for _, vecs, _ in batch:
            vectors.update(vecs)
        impressions = self._take_served()
        written: dict[str, UserWrite] = {}
        try:
            updater = self.make_updater(vectors, [ev for events, _, _ in batch for ev in events])
            outcomes = self.store.add_event_groups([events for events, _, _ in batch],
                                                   updater, impressions, written)
        except BaseException as exc:  # the whole transaction failed: tell every request
            log.warning("event commit of %d requests failed: %s", len(batch), exc)
            for *_, done in batch:
                done.set_exception(exc)
            return
        if written and self.on_written is not None:
            try:
                self.on_written(written, updater)
            except Exception:  # committed all the same: readers fall back to the store
                log.exception("after-commit hook failed")
        self.commits += 1
        self.requests += len(batch)
        for (*_, done), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, Exception):
                done.set_exception(outcome)
            else:
                done.set_result(outcome)
