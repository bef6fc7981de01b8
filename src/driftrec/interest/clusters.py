"""A user's interest clusters: weighted k-means over the items they engaged with.

The number of clusters is chosen by the data: k = 2..max_k is tried and the k with the
best silhouette wins if that silhouette clears ``min_silhouette``, else the user has one
interest. The k-means is a small compiled one (:mod:`driftrec.interest.kmeans`) rather
than scikit-learn's, because it runs per user on a few dozen points, on every
recommendation right after an event, where any per-call overhead dominates.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np

from driftrec.interest import kmeans
from driftrec.interest.state import Cluster, InterestState

#: Seeded k-means runs per k (the best by the k-means objective is kept).
N_INIT = 3
#: Most Lloyd steps of a run.
LLOYD_STEPS = 20


def _centroids(x: np.ndarray, w: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Unit weighted mean of each cluster's rows."""
    onehot = labels[None, :] == np.arange(int(labels.max()) + 1)[:, None]
    sums = onehot @ (x * w[:, None])
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return sums / np.maximum(norms, 1e-12)


@functools.cache
def _draws(seed: int, k: int) -> np.ndarray:
    """The uniform draws of each run's k-means++ seeding (run r draws from seed + r, as
    ``rng.random()`` one at a time would); the same every time, so made once."""
    out = np.stack([np.random.default_rng(seed + run).random(k) for run in range(N_INIT)])
    out.flags.writeable = False
    return out


def choose_clusters(x: np.ndarray, weights: np.ndarray | None = None, *, max_k: int = 5,
                    min_silhouette: float = 0.1, tight: float = 0.9, seed: int = 0
                    ) -> tuple[np.ndarray, np.ndarray, float]:
    """Centroids, labels and silhouette of the best k in 1..max_k for unit rows ``x``.

    Items whose mean cosine to their common centre is at least ``tight`` are one interest
    whatever the silhouette says (silhouette is scale-free and finds "clusters" in noise).
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.ones(len(x)) if weights is None else np.ascontiguousarray(weights, dtype=np.float64)
    centre = _unit_mean(x, w)
    best = (np.array([centre]), np.zeros(len(x), dtype=np.int64), 0.0)
    if len(x) < 3 or float(np.average(x @ centre, weights=w)) >= tight:
        return best
    ks = np.arange(2, min(max_k, len(x) - 1) + 1)
    if not len(ks):
        return best
    best_labels, best_s = kmeans.best_labels(x @ x.T, w, _draws(seed, int(ks.max())), ks,
                                             LLOYD_STEPS,
                                             float(min_silhouette))
    if not len(best_labels):
        return best
    return _centroids(x, w, best_labels), best_labels, float(best_s)


def warm() -> None:
    """Compile the k-means kernel now (or load it from numba's cache: about 0.2 s), so
    that the first recommendation after a start does not wait for it (seconds)."""
    choose_clusters(np.eye(6))


def _unit_mean(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    m = (x * w[:, None]).sum(0)
    n = np.linalg.norm(m)
    return m / n if n > 0 else m


def recluster(
    state: InterestState,
    item_vector: Callable[[str], np.ndarray | None],
    *,
    max_k: int = 5,
    window: int = 100,
    labeler: Callable[[Sequence[str]], str] | None = None,
    seed: int = 0,
) -> InterestState:
    """Re-derive ``state.clusters`` from its recent items (k by silhouette); returns state.

    This summarises history the state already holds; it adds no event. Cluster mass is the
    number of recent items in the cluster, so weights are shares of recent engagement.
    """
    ids = state.liked_items[-window:]
    vecs = [(i, item_vector(i)) for i in ids]
    vecs = [(i, v) for i, v in vecs if v is not None]
    if not vecs:
        state.clusters = []
        return state
    x = np.stack([np.asarray(v, dtype=np.float64) for _, v in vecs])
    centroids, labels, _ = choose_clusters(x, max_k=max_k, seed=seed)
    clusters = []
    for c in range(len(centroids)):
        members = [vecs[j][0] for j in np.flatnonzero(labels == c)]
        if not members:
            continue
        mass = float(len(members))
        clusters.append(Cluster(total=centroids[c] * mass, mass=mass,
                                items=members[-10:],
                                label=labeler(members) if labeler else ""))
    clusters.sort(key=lambda cl: -cl.mass)
    state.clusters = clusters
    return state
