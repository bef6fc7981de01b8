"""Diversity re-ranking by maximal marginal relevance over item text embeddings.

MMR picks, one at a time, the candidate maximising
``(1 - d) * relevance - d * max_similarity_to_already_picked``, with ``d`` the requested
``diversity`` in 0..1 (0 keeps the relevance order, 1 spreads as far as possible).
Relevance is min-max scaled to 0..1 so that it is on the cosine's scale.
"""

from __future__ import annotations

import numpy as np


def mmr(scores: np.ndarray, vectors: np.ndarray, k: int, diversity: float) -> np.ndarray:
    """Positions (into ``scores``) of the ``k`` items MMR selects, in selection order."""
    n = len(scores)
    k = min(k, n)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(-scores, kind="stable")
    if diversity <= 0 or n == 1:
        return order[:k]
    lo, hi = float(scores.min()), float(scores.max())
    rel = (scores - lo) / (hi - lo) if hi > lo else np.ones(n)
    sims = vectors @ vectors.T
    chosen = [int(order[0])]
    max_sim = sims[chosen[0]].copy()
    available = np.ones(n, dtype=bool)
    available[chosen[0]] = False
    for _ in range(1, k):
        value = (1.0 - diversity) * rel - diversity * max_sim
        value[~available] = -np.inf
        nxt = int(np.argmax(value))
        chosen.append(nxt)
        available[nxt] = False
        max_sim = np.maximum(max_sim, sims[nxt])
    return np.asarray(chosen, dtype=np.int64)


def intra_list_diversity(vectors: np.ndarray) -> float:
    """Mean pairwise ``1 - cosine`` of a list's item vectors (0 for fewer than two)."""
    n = len(vectors)
    if n < 2:
        return 0.0
    sims = vectors @ vectors.T
    return float(1.0 - (sims.sum() - np.trace(sims)) / (n * (n - 1)))
