"""A bulk import's interest states built on Ray: many worker processes, one or many machines.

The import's writes stay in this process (one writer per database, whole users per
transaction); only the state arithmetic moves, which is most of an import's time. Users
are dealt out in chunks of about ``chunk_rows`` events to a pool of Ray actors, each
holding the catalogue's vectors and the served interest config, and the chunks' new states
come back in file order while this process writes earlier chunks. At most
``workers + 1`` chunks are in flight, so memory stays bounded however large the file.

A state built ahead assumes that the user had no stored state and that every event in the
file is new to the store. When the write transaction finds otherwise (a user with a
stored state, or an ``event_id`` already stored), that user's state is built in this
process from what is stored, exactly as without Ray. Either way each user ends up with
what the one-process import gives (tested), which is what posting the events one by one
gives.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from driftrec.interest.config import InterestConfig
from driftrec.recommend.interest import InterestUpdater
from driftrec.recommend.served_items import Catalogue
from driftrec.store import StoredEvent
from driftrec.utils.ray_cluster import connect

log = logging.getLogger(__name__)

#: Users as the import yields them: ``(user_id, events)``, events in the order applied.
Users = Iterable[tuple[str, Sequence[StoredEvent]]]
#: How many chunks' states are kept for the writer to pick up (it may lag a chunk or two
#: behind the stream; states of users the import skips are dropped with their chunk).
_KEPT_CHUNKS = 4


class _StateActor:
    """One Ray actor: the catalogue's vectors and the interest config, loaded once."""

    def __init__(self, dim: int, ids: list[str], has_vector: np.ndarray, vectors: np.ndarray,
                 text_vectors: Mapping[str, np.ndarray], config: InterestConfig) -> None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)  # one CPU per actor: the update is small vector arithmetic
        catalogue = Catalogue(dim=dim, ids=list(ids), pos={i: j for j, i in enumerate(ids)},
                              has_vector=has_vector, vectors=vectors)
        self.update = InterestUpdater(catalogue, text_vectors, config, keep=False)

    def build(self, chunk: list[tuple[str, Sequence[StoredEvent]]]) -> list[dict[str, Any]]:
        """Each ``(user_key, events)``'s state after the events, starting from no state."""
        return [self.update(key, None, list(events)) for key, events in chunk]


class RayStateBuilder:
    """A state updater for :meth:`Store.import_events` whose states are built on Ray.

    Feed the import's ``(user_id, events)`` stream through :meth:`ahead` and pass the
    builder as the updater; users it did not build ahead (see the module docstring) go to
    ``local``, the one-process updater.
    """

    def __init__(self, local: Any, catalogue: Catalogue,
                 text_vectors: Mapping[str, np.ndarray], config: InterestConfig,
                 user_key: Any, *, address: str = "auto", workers: int = 2,
                 chunk_rows: int = 20_000, init: dict[str, Any] | None = None) -> None:
        ray = connect(address, workers=workers, **(init or {}))
        from ray.util import ActorPool

        actor = ray.remote(num_cpus=1)(_StateActor)
        shared = [ray.put(part) for part in (catalogue.dim, *catalogue.vector_snapshot(),
                                             dict(text_vectors), config)]
        self._ray = ray
        self._actors = [actor.remote(*shared) for _ in range(workers)]
        self.pool = ActorPool(self._actors)
        self.local, self.user_key = local, user_key
        self.workers, self.chunk_rows = workers, chunk_rows
        # per chunk: user key -> (events sent, state built from no state)
        self._ready: deque[dict[str, tuple[int, dict[str, Any]]]] = deque(
            maxlen=_KEPT_CHUNKS)
        self.built_ahead = 0  #: users whose state came from Ray
        self.built_here = 0  #: users built in this process (stored state or duplicates)

    def __call__(self, user_key: str, data: dict | None, new: list[StoredEvent]) -> dict:
        ahead = next((c.pop(user_key) for c in self._ready if user_key in c), None)
        if ahead is not None and data is None and ahead[0] == len(new):
            self.built_ahead += 1
            return ahead[1]
        self.built_here += 1
        return self.local(user_key, data, new)

    def close(self) -> None:
        """Stop the actors (they hold a copy of the catalogue each)."""
        for actor in self._actors:
            self._ray.kill(actor)
        self._actors = []
        log.info("interest states: %d users built on Ray, %d in this process",
                 self.built_ahead, self.built_here)

    def ahead(self, users: Users) -> Iterator[tuple[str, Sequence[StoredEvent]]]:
        """``users`` unchanged, each chunk yielded once its states are back from Ray,
        with up to ``workers`` later chunks being built meanwhile."""
        pending: deque[list[tuple[str, str, Sequence[StoredEvent]]]] = deque()
        chunk: list[tuple[str, str, Sequence[StoredEvent]]] = []
        size = 0
        for user_id, events in users:
            chunk.append((user_id, self.user_key(user_id), events))
            size += len(events)
            if size >= self.chunk_rows:
                self._submit(chunk, pending)
                chunk, size = [], 0
                if len(pending) > self.workers:
                    yield from self._collect(pending.popleft())
        if chunk:
            self._submit(chunk, pending)
        while pending:
            yield from self._collect(pending.popleft())

    def _submit(self, chunk: list[tuple[str, str, Sequence[StoredEvent]]],
                pending: deque) -> None:
        keyed = [(key, events) for _, key, events in chunk]
        self.pool.submit(lambda actor, part: actor.build.remote(part), keyed)
        pending.append(chunk)

    def _collect(self, chunk: list[tuple[str, str, Sequence[StoredEvent]]]
                 ) -> Iterator[tuple[str, Sequence[StoredEvent]]]:
        states = self.pool.get_next()  # in submission order
        self._ready.append({key: (len(events), state) for (_, key, events), state
                            in zip(chunk, states, strict=True)})
        for user_id, _, events in chunk:
            yield user_id, events
