"""Text similarity between a query vector and the served catalogue, exact or retrieved.

Below ``ann_threshold`` catalogue items, every item's cosine is one matrix product (exact,
what the pipeline always did). Past it, an approximate nearest-neighbour index
(:class:`~driftrec.recommend.ann.ItemIndex`, faiss IVF) retrieves a candidate pool, the
pool is re-scored exactly with the current vectors, and every other item gets ``-inf``:
the list's top is the same as exact search wherever the index finds the true neighbours
(recall@100 in ``docs/scaling.md``).

The index follows the catalogue incrementally: rows whose vector was written since the
last look are added (a re-embedded item is added again; its older entry only costs a
duplicate candidate, since candidates are re-scored from the current vectors).
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from driftrec.recommend.ann import ANN_THRESHOLD, ItemIndex
from driftrec.recommend.served_items import Catalogue

log = logging.getLogger(__name__)


class TextRetrieval:
    """Cosine similarities of a query with the first ``n`` catalogue rows."""

    def __init__(self, catalogue: Catalogue, threshold: int = ANN_THRESHOLD) -> None:
        self.catalogue = catalogue
        self.threshold = threshold
        self._index: ItemIndex | None = None
        self._indexed_seq = -1
        self._lock = threading.Lock()

    def approximate(self) -> bool:
        """Whether similarities come from retrieved candidates (the catalogue is past the
        threshold)."""
        return len(self.catalogue) >= self.threshold

    def warm(self) -> None:
        """Build the index now when the catalogue is past the threshold (an IVF index
        trains its lists: seconds at 100K+ items, better before the first request)."""
        if self.approximate():
            self._current()

    def similarities(self, vectors: np.ndarray, query: np.ndarray, pool: int) -> np.ndarray:
        """``vectors @ query`` for the catalogue rows ``vectors`` holds (a snapshot of the
        first rows of the catalogue); past the threshold only for the ``pool`` retrieved
        rows, ``-inf`` elsewhere."""
        if not self.approximate():
            return vectors @ query
        labels, _ = self._current().search(query[None, :], pool)
        rows = np.unique(labels[labels >= 0])
        rows = rows[rows < len(vectors)]
        out = np.full(len(vectors), -np.inf, dtype=np.float32)
        out[rows] = vectors[rows] @ query
        return out

    def _current(self) -> ItemIndex:
        """The index, brought up to date with vectors written since the last call."""
        cat = self.catalogue
        if self._index is not None and self._indexed_seq == cat.seq:
            return self._index
        with self._lock:
            if self._index is None:
                self._index = ItemIndex(cat.dim, threshold=self.threshold)
            seq = cat.seq  # read first: a row written meanwhile is added at the next look
            if self._indexed_seq != seq:
                n = len(cat)
                rows = np.flatnonzero((cat.vector_seq[:n] > self._indexed_seq)
                                      & cat.has_vector[:n])
                if len(rows):
                    # every row (the first look): the catalogue's own rows, not a copy
                    whole = len(rows) == n
                    self._index.add(cat.vectors[:n] if whole else cat.vectors[rows],
                                    rows.astype(np.int64))
                    log.info("text retrieval: %d item vectors indexed (%s, %d in all)",
                             len(rows), self._index.kind, len(self._index))
                self._indexed_seq = seq
            return self._index
