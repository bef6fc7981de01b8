"""Interest transfer for thin histories: borrow from similar users, fading with own history.

The blending weight for a user with ``n`` events is ``w(n) = k0 / (k0 + n)``: 1 for a user
with no events, 1/2 at ``n = k0``, towards 0 as the history grows. Two forms of borrowing:

* :meth:`TransferIndex.blend` mixes the user's own interest vector with the similarity-
  weighted mean interest of their nearest neighbours (or their segment's centroid);
* :meth:`TransferIndex.item_scores` scores items by how much the nearest neighbours in
  interest space engaged with them (what similar people went on to like).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from driftrec.text.encoders import l2_normalise


def transfer_weight(n_events: np.ndarray | int, k0: float = 5.0) -> np.ndarray:
    """``k0 / (k0 + n)``: how much borrowed interest counts for a user with ``n`` events."""
    n = np.maximum(np.asarray(n_events, dtype=np.float64), 0.0)
    return k0 / (k0 + n) if k0 > 0 else np.zeros_like(n)


class TransferIndex:
    """Known users' interest vectors (rows) and what they engaged with."""

    def __init__(self, user_vectors: np.ndarray, user_items: sp.csr_matrix | None = None, *,
                 n_neighbours: int = 50, k0: float = 5.0,
                 centroids: np.ndarray | None = None) -> None:
        # Stored one column per user: a query's similarity to every user is then one pass
        # over contiguous memory, twice as fast as over rows once they outgrow the cache.
        self._by_dim = np.ascontiguousarray(l2_normalise(user_vectors).T)
        self.user_items = None if user_items is None else sp.csr_matrix(user_items,
                                                                        dtype=np.float32)
        if self.user_items is not None and self.user_items.shape[0] != len(self.user_vectors):
            raise ValueError("user_items must have one row per user vector")
        self.n_neighbours = int(n_neighbours)
        self.k0 = float(k0)
        self.centroids = None if centroids is None else l2_normalise(centroids)
        self._active = np.abs(self.user_vectors).sum(1) > 0
        self._inactive = np.flatnonzero(~self._active)

    @property
    def user_vectors(self) -> np.ndarray:
        """Unit interest vector of each known user, ``(n_users, dim)``."""
        return self._by_dim.T

    def neighbours(self, queries: np.ndarray, exclude: np.ndarray | None = None,
                   n_neighbours: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Indices and cosine similarities of each query's nearest users (best first).

        ``exclude[r]`` is a user row that query ``r`` must not match (itself), or -1.
        Rows of an all-zero query get similarity 0 everywhere.
        """
        q = l2_normalise(queries)
        sims = q @ self._by_dim
        sims[:, self._inactive] = -np.inf
        if exclude is not None:
            ex = np.asarray(exclude)
            r = np.flatnonzero((ex >= 0) & (ex < sims.shape[1]))
            sims[r, ex[r]] = -np.inf
        k = min(n_neighbours or self.n_neighbours, sims.shape[1])
        # torch's top-k selects and sorts in one pass, several times faster than NumPy's
        # partition and sort for one query (it runs on every request after an event);
        # imported here so that light uses of the package (a popularity model) load no torch
        import torch

        top, idx = torch.topk(torch.from_numpy(sims), k, dim=1)
        return idx.numpy(), top.numpy()

    def _weights(self, sims: np.ndarray) -> np.ndarray:
        w = np.where(np.isfinite(sims), np.clip(sims, 0.0, None), 0.0)
        return w

    def neighbour_interest(self, queries: np.ndarray, exclude: np.ndarray | None = None
                           ) -> np.ndarray:
        """Similarity-weighted mean interest of the nearest neighbours (unit rows)."""
        idx, sims = self.neighbours(queries, exclude)
        w = self._weights(sims)
        mix = np.einsum("nk,nkd->nd", w, self.user_vectors[idx])
        return l2_normalise(mix)

    def segment_interest(self, queries: np.ndarray) -> np.ndarray:
        """Centroid of each query's nearest segment (needs ``centroids``)."""
        if self.centroids is None:
            raise ValueError("this transfer index was built without segment centroids")
        seg = np.argmax(l2_normalise(queries) @ self.centroids.T, axis=1)
        return self.centroids[seg]

    def blend(self, own: np.ndarray, n_events: np.ndarray, exclude: np.ndarray | None = None,
              *, source: str = "neighbours") -> np.ndarray:
        """``(1 - w) * own + w * borrowed`` with ``w = k0 / (k0 + n)``, as unit rows.

        ``source`` is ``neighbours`` or ``segment``. A user with no own interest keeps
        zeros (there is nothing to find neighbours from); serve them popularity and text.
        """
        own = l2_normalise(own)
        borrowed = (self.neighbour_interest(own, exclude) if source == "neighbours"
                    else self.segment_interest(own))
        w = transfer_weight(n_events, self.k0)[:, None]
        return l2_normalise((1.0 - w) * own + w * borrowed)

    def item_scores(self, queries: np.ndarray, exclude: np.ndarray | None = None,
                    n_neighbours: int | None = None, columns: np.ndarray | None = None
                    ) -> np.ndarray:
        """Share of (similarity-weighted) nearest neighbours who engaged with each item
        (with ``columns``: with those items only, in that order)."""
        idx, sims = self.neighbours(queries, exclude, n_neighbours)
        return self.engagement(idx, self.neighbour_weights(sims), columns)

    def neighbour_weights(self, sims: np.ndarray) -> np.ndarray:
        """How much each neighbour of :meth:`neighbours` counts in :meth:`engagement`."""
        return self._weights(sims).astype(np.float32)

    def engagement(self, idx: np.ndarray, w: np.ndarray, columns: np.ndarray | None = None
                   ) -> np.ndarray:
        """:meth:`item_scores` of neighbours ``idx`` weighted by ``w`` (both ``(n, k)``)."""
        if self.user_items is None:
            raise ValueError("this transfer index was built without user_items")
        n, k = idx.shape
        # The neighbours' rows of user_items, gathered and summed with one bincount: a
        # sparse product costs more in scipy's per-call checks than in arithmetic here.
        ui, width = self.user_items, self.user_items.shape[1]
        starts = ui.indptr[idx.ravel()]
        lengths = ui.indptr[idx.ravel() + 1] - starts
        at = np.arange(lengths.sum()) + np.repeat(starts - (np.cumsum(lengths) - lengths),
                                                  lengths)
        cells = np.repeat(np.repeat(np.arange(n), k) * width, lengths) + ui.indices[at]
        engaged = np.bincount(cells, np.repeat(w.ravel(), lengths) * ui.data[at],
                              minlength=n * width).reshape(n, width)
        if columns is not None:
            engaged = engaged[:, np.asarray(columns)]
        scores = engaged.astype(np.float32)
        total = w.sum(1, keepdims=True)
        return np.divide(scores, total, out=np.zeros_like(scores), where=total > 0)
