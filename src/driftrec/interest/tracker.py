"""Interest states of a whole user base in memory, for library use and benchmarks.

The tracker turns an incoming event into the vectors :func:`update` needs (the item's text
embedding, the embedding of any query or review on the event) and applies it; items added
with :meth:`add_items` are usable at once. The service does not use it: it keeps states in
its store and moves them with the same :func:`update` (``driftrec.recommend.interest``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from driftrec.interest.config import InterestConfig
from driftrec.interest.state import Event, InterestState, new_state, update
from driftrec.text.cache import encode_texts
from driftrec.text.encoders import TextEncoder, get_encoder, l2_normalise

log = logging.getLogger(__name__)


class InterestTracker:
    """Interest states of many users over one item-vector table."""

    def __init__(self, item_ids: Sequence[str], item_vectors: np.ndarray, *,
                 config: InterestConfig | None = None,
                 encoder: TextEncoder | str | None = None,
                 cache_dir: str | Path | None = None) -> None:
        if len(item_ids) != len(item_vectors):
            raise ValueError(f"{len(item_ids)} item ids but {len(item_vectors)} item vectors")
        self.config = config or InterestConfig()
        self.item_ids = [str(i) for i in item_ids]
        self.item_vectors = l2_normalise(item_vectors)
        self._pos = {i: j for j, i in enumerate(self.item_ids)}
        self._encoder = encoder
        self.cache_dir = cache_dir
        self.states: dict[str, InterestState] = {}

    @property
    def dim(self) -> int:
        return int(self.item_vectors.shape[1])

    @property
    def encoder(self) -> TextEncoder:
        if not hasattr(self._encoder, "encode"):
            self._encoder = get_encoder(self._encoder)  # type: ignore[arg-type]
        return self._encoder  # type: ignore[return-value]

    def encode(self, texts: list[str]) -> np.ndarray:
        return encode_texts(texts, self.encoder, cache_dir=self.cache_dir, progress=False)

    def item_vector(self, item_id: str) -> np.ndarray | None:
        j = self._pos.get(str(item_id))
        return None if j is None else self.item_vectors[j]

    def add_items(self, item_ids: Sequence[str], *, texts: Sequence[str] | None = None,
                  vectors: np.ndarray | None = None) -> None:
        """Add (or replace) items from their text or ready vectors; usable immediately."""
        if vectors is None:
            if texts is None:
                raise ValueError("add_items needs texts or vectors for the new items")
            vectors = self.encode(list(texts))
        vectors = l2_normalise(vectors)
        if vectors.shape != (len(item_ids), self.dim):
            raise ValueError(f"new item vectors have shape {vectors.shape}, "
                             f"expected ({len(item_ids)}, {self.dim})")
        fresh = []
        for iid, v in zip(item_ids, vectors, strict=True):
            j = self._pos.get(str(iid))
            if j is None:
                fresh.append((str(iid), v))
            else:
                self.item_vectors[j] = v
        if fresh:
            start = len(self.item_ids)
            self.item_ids.extend(i for i, _ in fresh)
            self.item_vectors = np.vstack([self.item_vectors, np.stack([v for _, v in fresh])])
            self._pos.update({i: start + k for k, (i, _) in enumerate(fresh)})

    def state(self, user_id: str) -> InterestState:
        """The user's state (a fresh empty one for a user never seen)."""
        uid = str(user_id)
        if uid not in self.states:
            self.states[uid] = new_state(uid, self.dim)
        return self.states[uid]

    def apply(self, event: Event) -> bool:
        """Update the event's user; False when the event was a redelivery or unusable."""
        item_vec = self.item_vector(event.item_id) if event.item_id is not None else None
        text_vec = self.encode([event.text])[0] if event.text else None
        if item_vec is None and text_vec is None:
            log.warning("event of user %r names unknown item %r and has no text; ignored",
                        event.user_id, event.item_id)
            return False
        return update(self.state(event.user_id), event, item_vec, text_vec, self.config)

    def apply_all(self, events: Iterable[Event]) -> int:
        return sum(self.apply(e) for e in events)
