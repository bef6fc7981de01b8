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
    #: ``vectors`` is a view of its first rows: new items are appended in place and the
    #: buffer grows geometrically, so a catalogue read page by page is copied a few times
    #: in all rather than once per page.
    _buffer: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32),
                                repr=False)

    def __post_init__(self) -> None:
        if self.vectors.shape[1] != self.dim:
            self.vectors = np.zeros((0, self.dim), dtype=np.float32)
        self._buffer = self.vectors

    def __len__(self) -> int:
        return len(self.ids)

    def sync(self, store: Store) -> bool:
        """Pull items changed since the last sync; True when anything changed."""
        changed = False
        with self._lock:
            for page in store.item_pages_since(self.seq):
                self._apply(page)
                changed = True
        return changed

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
            self._reserve(n0 + grow)
            self.vectors = self._buffer[:n0 + grow]
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

    def vector_snapshot(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Copies of ``ids``, ``has_vector`` and ``vectors`` taken together (for work
        shipped to other processes while this one may sync)."""
        with self._lock:
            return list(self.ids), self.has_vector.copy(), self.vectors.copy()

    def _reserve(self, rows: int) -> None:
        """Room for ``rows`` vectors, the rows past the current ones zero."""
        if rows <= len(self._buffer):
            return
        buffer = np.zeros((max(rows, 2 * len(self._buffer)), self.dim), dtype=np.float32)
        buffer[:len(self.vectors)] = self.vectors
        self._buffer = buffer

    def vector(self, item_id: str) -> np.ndarray | None:
        i = self.pos.get(item_id)
        if i is None or not self.has_vector[i]:
            return None
        return self.vectors[i]

    def title(self, item_id: str) -> str:
        i = self.pos.get(item_id)
        return self.titles[i] if i is not None else item_id
