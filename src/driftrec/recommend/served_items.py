"""The item catalogue as the serving pipeline needs it: ids, texts, vectors, hidden flags.

Each process keeps a copy in memory and pulls only what changed since its last look (items
carry a catalogue sequence number), so an item written through any process is recommendable
from every process at its next request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftrec.recommend.encoding import from_bytes
from driftrec.store import ItemRecord, Store

log = logging.getLogger(__name__)


@dataclass
class Catalogue:
    """All known items; ``vectors[i]`` is item ``ids[i]``'s unit text vector (or zeros)."""

    dim: int
    ids: list[str] = field(default_factory=list)
    pos: dict[str, int] = field(default_factory=dict)
    titles: list[str] = field(default_factory=list)
    attributes: list[dict[str, Any]] = field(default_factory=list)
    hidden: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    has_vector: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    #: The catalogue sequence number of the write that last set each row's vector (what a
    #: retrieval index has to add since its last look).
    vector_seq: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    seq: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.vectors.shape[1] != self.dim:
            self.vectors = np.zeros((0, self.dim), dtype=np.float32)

    def __len__(self) -> int:
        return len(self.ids)

    def sync(self, store: Store) -> bool:
        """Pull items changed since the last sync; True when anything changed."""
        with self._lock:
            changed = store.items_since(self.seq)
            if changed:
                self._apply(changed)
            return bool(changed)

    def _apply(self, records: Iterable[ItemRecord]) -> None:
        records = list(records)
        new = [r for r in records if r.item_id not in self.pos]
        if new:
            n0 = len(self.ids)
            for j, r in enumerate(new):
                self.pos[r.item_id] = n0 + j
                self.ids.append(r.item_id)
                self.titles.append("")
                self.attributes.append({})
            grow = len(new)
            self.hidden = np.concatenate([self.hidden, np.zeros(grow, dtype=bool)])
            self.has_vector = np.concatenate([self.has_vector, np.zeros(grow, dtype=bool)])
            self.vectors = np.vstack([self.vectors, np.zeros((grow, self.dim), np.float32)])
            self.vector_seq = np.concatenate([self.vector_seq, np.zeros(grow, dtype=np.int64)])
        for r in records:
            i = self.pos[r.item_id]
            self.titles[i] = r.title or r.item_id
            self.attributes[i] = r.attributes
            self.hidden[i] = r.hidden
            vec = from_bytes(r.embedding, self.dim)
            if vec is not None and not (self.has_vector[i] and np.array_equal(vec,
                                                                              self.vectors[i])):
                self.vector_seq[i] = r.seq
            self.has_vector[i] = vec is not None
            self.vectors[i] = vec if vec is not None else 0.0
            self.seq = max(self.seq, r.seq)

    def vector(self, item_id: str) -> np.ndarray | None:
        i = self.pos.get(item_id)
        if i is None or not self.has_vector[i]:
            return None
        return self.vectors[i]

    def title(self, item_id: str) -> str:
        i = self.pos.get(item_id)
        return self.titles[i] if i is not None else item_id
