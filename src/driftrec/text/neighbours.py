"""Borrowing from text neighbours: what an item without events takes from similar items.

An item nobody has engaged with yet (a cold item) has no popularity, recency or
neighbour engagement of its own. Its nearest warm items in text space stand in for it,
so it competes on what its closest counterparts earned instead of sinking to the bottom.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def cold_item_proxy(item_vectors: np.ndarray, warm: np.ndarray, k: int) -> sp.csr_matrix:
    """Item x item map: identity for warm items; each cold item maps to the cosine-weighted
    mean of its ``k`` nearest warm items (``item_vectors``: unit rows, ``warm``: bool mask).

    ``proxy @ values`` gives every item a value, cold items their neighbours'. With no warm
    item or ``k = 0`` cold rows stay empty (value 0).
    """
    warm = np.asarray(warm, dtype=bool)
    n = len(warm)
    if item_vectors.shape[0] != n:
        raise ValueError(f"item_vectors has {item_vectors.shape[0]} rows for {n} items")
    warm_idx, cold_idx = np.flatnonzero(warm), np.flatnonzero(~warm)
    k = min(int(k), len(warm_idx))
    rows, cols, vals = [warm_idx], [warm_idx], [np.ones(len(warm_idx))]
    if len(cold_idx) and k > 0:
        sims = item_vectors[cold_idx] @ item_vectors[warm_idx].T
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        w = np.clip(np.take_along_axis(sims, top, axis=1), 0.0, None) + 1e-6
        w /= w.sum(1, keepdims=True)
        rows.append(np.repeat(cold_idx, k))
        cols.append(warm_idx[top].ravel())
        vals.append(w.ravel())
    return sp.csr_matrix((np.concatenate(vals).astype(np.float32),
                          (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
