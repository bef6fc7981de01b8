"""One user's context, read once per request, and the in-process cache of hot contexts.

Everything downstream of a request (model scoring, fallbacks, segments, profile, reasons,
dashboard) reads the same :class:`UserContext`. Contexts of recently active users stay in
memory (a bounded LRU); each request checks the user's revision in the store (one
primary-key read) and reloads the context only when any process wrote to that user since,
so an event posted to one process is reflected by the next request to every process.

On SQLite the store also keeps a change count that every write of every process raises
(:meth:`Store.change_count`). A context remembers the count at which it was last known to
be current (``checked_at``); while the count has not moved, the context is current without
asking the store (:meth:`ContextCache.held_revision`).
"""

from __future__ import annotations

import bisect
import enum
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from driftrec.interest.state import InterestState
from driftrec.recommend.interest import interest_vector, load_state
from driftrec.store import Store, StoredEvent
from driftrec.store.store import UserWrite

T = TypeVar("T")


@dataclass
class UserContext:
    """What the store knows about one user, read once per request."""

    user_key: str
    events: list[StoredEvent]
    state: InterestState
    n_events: int
    seen: set[str] = field(default_factory=set)
    revision: str | None = None
    #: The store's change count at which this context was last known to be current (None:
    #: not known; see the module docstring).
    checked_at: int | None = None
    #: The model's scores for this exact context, by model version (see the engine).
    model_scores: dict[str, Any] = field(default_factory=dict)
    #: Values derived from this context and something else (see :meth:`derived`).
    _derived: dict[str, tuple[Any, Any]] = field(default_factory=dict, repr=False)

    def derived(self, name: str, depends_on: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, kept with this context under ``name`` while ``depends_on`` (a
        small key of what else it was computed from, e.g. the segments version) stays
        equal. A context held in memory answers every request of its user until their
        next event, so what a request derives from it is computed once, not per request.
        Keys, not the objects they name: a held context must not keep an old catalogue
        alive."""
        held = self._derived.get(name)
        if held is None or held[0] != depends_on:
            held = (depends_on, compute())
            self._derived[name] = held
        return held[1]

    @property
    def vector(self) -> np.ndarray | None:
        """The user's interest vector (computed once per context)."""
        if "_vector" not in self.__dict__:
            self.__dict__["_vector"] = (interest_vector(self.state) if self.state.n_events
                                        else None)
        return self.__dict__["_vector"]


class Unread(enum.Enum):
    """The type of :data:`UNREAD`."""

    UNREAD = "unread"


#: A revision not read yet (``None`` means: the store has no state for the user).
UNREAD = Unread.UNREAD


def _event_order(e: StoredEvent) -> tuple[int, int]:
    """The order of a user's stored events (time, then row id), as the store reads them."""
    return (e.timestamp, e.seq)


def empty_context(dim: int) -> UserContext:
    """The context of a request with no user (e.g. a free-text query)."""
    return UserContext("", [], load_state(None, "", dim), 0)


class ContextCache:
    """Bounded LRU of user contexts, validated against the store's per-user revision."""

    def __init__(self, store: Store, history_length: int, dim: int, max_users: int) -> None:
        self.store = store
        self.history_length = history_length
        self.dim = dim
        self.max_users = max_users
        self._entries: OrderedDict[str, UserContext] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, user_key: str, revision: str | Unread | None = UNREAD) -> UserContext:
        """The user's current context (from memory when nothing changed since);
        ``revision``: the user's revision, when the caller has just read it."""
        if revision is UNREAD:
            revision = self.store.user_revision(user_key) if self.max_users > 0 else None
        with self._lock:
            ctx = self._entries.get(user_key)
            if ctx is not None and revision is not None and ctx.revision == revision:
                self._entries.move_to_end(user_key)
                self.hits += 1
                return ctx
        self.misses += 1
        if revision is None and self.max_users > 0:
            # No state row: the store has nothing on this user (every event is written
            # with its user's state), so there is nothing more to read.
            return UserContext(user_key, [], load_state(None, user_key, self.dim), 0)
        count = self.store.change_count()  # before the read: what it reads is at least this
        snap = self.store.user_snapshot(user_key, self.history_length)
        ctx = UserContext(user_key, snap.events, load_state(snap.state, user_key, self.dim),
                          snap.n_events, snap.seen, snap.revision, checked_at=count)
        if snap.revision is not None and self.max_users > 0:
            with self._lock:
                self._entries[user_key] = ctx
                self._entries.move_to_end(user_key)
                while len(self._entries) > self.max_users:
                    self._entries.popitem(last=False)
        return ctx

    def held_revision(self, user_key: str, count: int) -> str | Unread:
        """The revision of the user's held context when it is known to be current at the
        store's change count ``count``; :data:`UNREAD` when the store must be asked."""
        with self._lock:
            ctx = self._entries.get(user_key)
            if ctx is None or ctx.checked_at is None or ctx.checked_at != count:
                return UNREAD
            return ctx.revision

    def confirm(self, user_key: str, revision: str | None, count: int | None) -> None:
        """The store said, at change count ``count`` or later, that the user is at
        ``revision``: a held context at that revision is current at ``count``."""
        if count is None:
            return
        with self._lock:
            ctx = self._entries.get(user_key)
            if ctx is not None and revision is not None and ctx.revision == revision:
                ctx.checked_at = count

    def advance(self, user_key: str, write: UserWrite, state: InterestState | None,
                checked_at: int | None = None) -> None:
        """Bring a held context up to ``write`` (this process's own event commit) from
        what was written: ``state`` (the new interest state the stored one was made from)
        and the new events. The result is the context :meth:`get` would read from the store;
        a context at another revision than the one the write replaced (another process
        wrote in between) is dropped instead, and read again when next asked for.
        ``checked_at``: the store's change count right after the write."""
        with self._lock:
            ctx = self._entries.get(user_key)
            if ctx is None:
                return
            if state is None or ctx.revision is None or ctx.revision != write.old_revision:
                del self._entries[user_key]
                return
            events = list(ctx.events)
            for ev in sorted(write.events, key=_event_order):
                if events and _event_order(ev) < _event_order(events[-1]):
                    bisect.insort(events, ev, key=_event_order)  # arrived late
                else:
                    events.append(ev)
            if len(events) > self.history_length:
                del events[:len(events) - self.history_length]
            self._entries[user_key] = UserContext(
                user_key, events, state, write.n_events,
                ctx.seen | {e.item_id for e in write.events}, write.revision,
                checked_at=checked_at)

    def invalidate(self, user_key: str) -> None:
        with self._lock:
            self._entries.pop(user_key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
