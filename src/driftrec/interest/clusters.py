"""A user's interest clusters: weighted k-means over the items they engaged with.

The number of clusters is chosen by the data: k = 2..max_k is tried and the k with the
best silhouette wins if that silhouette clears ``min_silhouette``, else the user has one
interest. A small NumPy k-means is used rather than scikit-learn because it runs per user
on a few dozen points, thousands of times, where scikit-learn's per-call overhead dominates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from driftrec.interest.state import Cluster, InterestState


def _centroids(x: np.ndarray, w: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Unit weighted mean of each cluster's rows."""
    onehot = labels[None, :] == np.arange(int(labels.max()) + 1)[:, None]
    sums = onehot @ (x * w[:, None])
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return sums / np.maximum(norms, 1e-12)


def _kmeans_labels_for(g: np.ndarray, ks: list[int], w: np.ndarray, seed: int, iters: int,
                       n_init: int = 3) -> list[np.ndarray]:
    """Labels of weighted spherical k-means on the Gram matrix ``g`` for each k of ``ks``:
    the best of ``n_init`` seeded runs (k-means++ init) by the k-means objective.

    Serving clusters a user's recent items on every request: run one by one, the
    ``len(ks) * n_init`` small k-means runs cost far more in per-call overhead than in
    arithmetic. Here the k-means++ seeding of a seed is drawn once for the largest k (a
    smaller k's centres are its first k: the same random stream) and the Lloyd iterations
    of every run advance together; a run that has converged stays where it is.
    """
    if not ks:
        return []
    n, top = len(g), max(ks)
    inits = _kmeans_pp_runs(g, top, w, [seed + run for run in range(n_init)])
    runs = [(k, run) for k in ks for run in range(n_init)]
    starts = [inits[run][:k] for k, run in runs]
    width = max(len(c) for c in starts)
    labels = np.stack([np.argmax(g[:, c], axis=1) for c in starts])
    rows = np.arange(n)
    active = np.zeros((len(runs), width), dtype=bool)  # each run's own clusters
    for r, c in enumerate(starts):
        active[r, :len(c)] = True
    for _ in range(iters):
        onehot = np.zeros((len(runs), n, width))
        onehot[np.arange(len(runs))[:, None], rows[None, :], labels] = w[None, :]
        dots = g @ onehot                                          # x_i . sum_k
        norms = np.sqrt(np.maximum((onehot * dots).sum(1), 1e-12))  # |sum_k|
        filled = (onehot.sum(1) > 0) & active
        sims = np.where(filled[:, None, :], dots / norms[:, None, :], -np.inf)
        new = np.argmax(sims, axis=2)
        if np.array_equal(new, labels):
            break
        labels = new
    # renumber each run's clusters 0..k'-1 in label order (a cluster may have emptied)
    present = np.zeros((len(runs), width), dtype=bool)
    present[np.arange(len(runs))[:, None], labels] = True
    labels = np.take_along_axis(np.cumsum(present, axis=1) - 1, labels, axis=1)
    onehot = np.zeros((len(runs), n, width))
    onehot[np.arange(len(runs))[:, None], rows[None, :], labels] = w[None, :]
    objective = np.sqrt(np.maximum((onehot * (g @ onehot)).sum(1), 0)).sum(1)
    out = []
    for i in range(len(ks)):
        best, best_obj = None, -np.inf
        for run in range(i * n_init, (i + 1) * n_init):
            if objective[run] > best_obj + 1e-12:
                best, best_obj = labels[run], objective[run]
        out.append(best)
    return out


def _kmeans_pp_runs(g: np.ndarray, k: int, w: np.ndarray, seeds: list[int]
                    ) -> list[list[int]]:
    """k-means++ seeding on the Gram matrix, up to ``k`` centre rows for each seed; the
    seeds' steps are taken together, each seed drawing from its own stream."""
    n = len(g)
    rngs = [np.random.default_rng(seed) for seed in seeds]
    first = _cdf(w / w.sum())
    centres = [[int(first.searchsorted(rng.random(), side="right"))] for rng in rngs]
    growing = [True] * len(seeds)
    d2 = np.full((len(seeds), n), np.inf)
    for _ in range(1, k):
        d2 = np.minimum(d2, 2.0 - 2.0 * g[:, [c[-1] for c in centres]].T)
        p = np.clip(d2, 0, None) * w
        totals = p.sum(1)
        cdf = _cdf(p / np.where(totals > 1e-12, totals, 1.0)[:, None])
        for r, rng in enumerate(rngs):
            growing[r] = growing[r] and totals[r] > 1e-12
            if growing[r]:
                centres[r].append(int(cdf[r].searchsorted(rng.random(), side="right")))
        if not any(growing):
            break
    return centres


def _cdf(p: np.ndarray) -> np.ndarray:
    """The cumulative distribution ``rng.choice(len(p), p=p)`` draws from (along the last
    axis), so that ``cdf.searchsorted(rng.random(), side="right")`` is the same draw from
    the same stream, without ``choice``'s checks of ``p`` (which cost more than the draw
    on every request that clusters)."""
    cdf = np.cumsum(p, axis=-1)
    cdf /= cdf[..., -1:]
    return cdf


def _silhouette(d: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette from the cosine distances ``d`` (-1 for a single cluster)."""
    ks = np.unique(labels)
    if len(ks) < 2:
        return -1.0
    onehot = labels[:, None] == ks[None, :]
    counts = onehot.sum(0).astype(np.float64)
    sums = d @ onehot
    own = onehot.argmax(1)
    n_own = counts[own] - 1
    a = np.where(n_own > 0, sums[np.arange(len(d)), own] / np.maximum(n_own, 1), 0.0)
    other = sums / counts
    other[np.arange(len(d)), own] = np.inf
    b = other.min(1)
    s = np.where(n_own > 0, (b - a) / np.maximum(np.maximum(a, b), 1e-12), 0.0)
    return float(s.mean())


def choose_clusters(x: np.ndarray, weights: np.ndarray | None = None, *, max_k: int = 5,
                    min_silhouette: float = 0.1, tight: float = 0.9, seed: int = 0
                    ) -> tuple[np.ndarray, np.ndarray, float]:
    """Centroids, labels and silhouette of the best k in 1..max_k for unit rows ``x``.

    Items whose mean cosine to their common centre is at least ``tight`` are one interest
    whatever the silhouette says (silhouette is scale-free and finds "clusters" in noise).
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=np.float64)
    centre = _unit_mean(x, w)
    best = (np.array([centre]), np.zeros(len(x), dtype=np.int64), 0.0)
    if len(x) < 3 or float(np.average(x @ centre, weights=w)) >= tight:
        return best
    best_s, best_labels = min_silhouette, None
    g = x @ x.T
    ks = list(range(2, min(max_k, len(x) - 1) + 1))
    d = np.clip(1.0 - g, 0.0, 2.0)
    for labels in _kmeans_labels_for(g, ks, w, seed, 20):
        s = _silhouette(d, labels)
        if s > best_s:
            best_s, best_labels = s, labels
    if best_labels is None:
        return best
    return _centroids(x, w, best_labels), best_labels, best_s


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
