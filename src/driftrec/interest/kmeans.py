"""Compiled per-user k-means: the labels :func:`~driftrec.interest.clusters.choose_clusters`
picks, as one numba function.

Serving clusters a user's recent items on every request right after their event: a few
dozen points, k = 2..5, three seeded runs each, up to 20 Lloyd steps, then a silhouette
per k. In NumPy that is hundreds of small array calls, whose overhead (not arithmetic) was
the largest single cost of a fresh recommendation; compiled, it is a few microseconds of
loops. numba compiles on first use and caches the machine code beside this file.

The algorithm is weighted spherical k-means on the Gram matrix ``g`` of unit rows:
k-means++ seeding per run (the random draws come from NumPy, so a seed means the same
stream as before), Lloyd steps to a fixed point or ``iters``, the best run of each k by
the k-means objective (sum over clusters of the norm of the weighted sum), then the k
whose silhouette (on cosine distance) is best and above ``min_silhouette``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from numba import njit

log = logging.getLogger(__name__)


def compiled(fn: Callable) -> Callable:
    """numba's ``njit``, caching the machine code where numba can write it (beside this
    file, or its user-wide cache; ``NUMBA_CACHE_DIR`` chooses another place). Where it can
    write nowhere (a read-only install run by a user without a writable home, as in the
    container image), numba refuses to cache at all: the function is then compiled anew
    in each process instead of failing the import."""
    try:
        return njit(cache=True)(fn)
    except RuntimeError as exc:  # "cannot cache function ...: no locator available"
        if not _UNCACHED:
            log.info("numba cannot cache the k-means here (%s); each process compiles it "
                     "(seconds at start-up); set NUMBA_CACHE_DIR to a writable folder", exc)
        _UNCACHED.append(fn.__name__)
        return njit(fn)


#: The kernel's functions that numba could not cache (see :func:`compiled`).
_UNCACHED: list[str] = []


#: What counts as zero: k-means++ stops adding centres below it (every point is a centre
#: already), a cluster's squared norm is floored at it, and a run must beat the best
#: objective by more than it to replace it.
_TINY = 1e-12


@compiled
def _draw(p: np.ndarray, u: float) -> int:
    """The index that the uniform draw ``u`` picks from weights ``p`` (inverse CDF)."""
    cdf = np.cumsum(p / p.sum())
    cdf /= cdf[-1]
    return np.searchsorted(cdf, u, side="right")


@compiled
def _seed_centres(g: np.ndarray, w: np.ndarray, k: int, draws: np.ndarray) -> np.ndarray:
    """k-means++ centres (row indices) from one run's uniform draws; -1 past the last
    centre when every point already is one."""
    n = len(g)
    centres = np.full(k, -1, dtype=np.int64)
    centres[0] = _draw(w, draws[0])
    d2 = np.full(n, np.inf)
    for j in range(1, k):
        last = centres[j - 1]
        p = np.empty(n)
        for i in range(n):
            d2[i] = min(d2[i], 2.0 - 2.0 * g[i, last])
            p[i] = max(d2[i], 0.0) * w[i]
        if p.sum() <= _TINY:
            break
        centres[j] = _draw(p, draws[j])
    return centres


@compiled
def _cluster_sums(g: np.ndarray, w: np.ndarray, labels: np.ndarray, width: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each point's dot with each cluster's weighted sum, each cluster's squared norm and
    weight."""
    n = len(g)
    dots = np.zeros((n, width))
    for j in range(n):
        c, wj = labels[j], w[j]
        for i in range(n):
            dots[i, c] += g[i, j] * wj
    sq = np.zeros(width)
    mass = np.zeros(width)
    for i in range(n):
        sq[labels[i]] += w[i] * dots[i, labels[i]]
        mass[labels[i]] += w[i]
    return dots, sq, mass


@compiled
def _lloyd(g: np.ndarray, w: np.ndarray, centres: np.ndarray, iters: int
           ) -> tuple[np.ndarray, float]:
    """Labels (renumbered 0..k'-1 in label order) and objective of one run."""
    n = len(g)
    k = 0
    while k < len(centres) and centres[k] >= 0:
        k += 1
    labels = np.empty(n, dtype=np.int64)
    for i in range(n):
        best = 0
        for c in range(1, k):
            if g[i, centres[c]] > g[i, centres[best]]:
                best = c
        labels[i] = best
    new = np.empty(n, dtype=np.int64)
    for _ in range(iters):
        dots, sq, mass = _cluster_sums(g, w, labels, k)
        for i in range(n):
            best, best_sim = -1, -np.inf
            for c in range(k):
                if mass[c] > 0:
                    sim = dots[i, c] / np.sqrt(max(sq[c], _TINY))
                    if best < 0 or sim > best_sim:
                        best, best_sim = c, sim
            new[i] = best
        if np.array_equal(new, labels):
            break
        labels[:] = new
    present = np.zeros(k, dtype=np.int64)
    for i in range(n):
        present[labels[i]] = 1
    rank = np.cumsum(present) - 1
    for i in range(n):
        labels[i] = rank[labels[i]]
    _, sq, _ = _cluster_sums(g, w, labels, k)
    objective = 0.0
    for c in range(k):
        objective += np.sqrt(max(sq[c], 0.0))
    return labels, objective


@compiled
def _silhouette(d: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette from the cosine distances ``d`` (-1 for a single cluster)."""
    n = len(d)
    width = labels.max() + 1
    counts = np.zeros(width)
    for i in range(n):
        counts[labels[i]] += 1
    if (counts > 0).sum() < 2:
        return -1.0
    total = 0.0
    sums = np.empty(width)
    for i in range(n):
        sums[:] = 0.0
        for j in range(n):
            sums[labels[j]] += d[i, j]
        own = labels[i]
        if counts[own] <= 1:
            continue  # a point alone in its cluster scores 0
        a = sums[own] / (counts[own] - 1)
        b = np.inf
        for c in range(width):
            if c != own and counts[c] > 0:
                b = min(b, sums[c] / counts[c])
        total += (b - a) / max(max(a, b), _TINY)
    return total / n


@compiled
def best_labels(g: np.ndarray, w: np.ndarray, draws: np.ndarray, ks: np.ndarray,
                iters: int, min_silhouette: float) -> tuple[np.ndarray, float]:
    """Labels and silhouette of the best k of ``ks`` (empty labels when no k clears
    ``min_silhouette``); ``draws[run]`` are the uniform draws of run ``run``'s seeding."""
    d = np.minimum(np.maximum(1.0 - g, 0.0), 2.0)
    top = ks.max()
    runs = len(draws)
    seeds = np.empty((runs, top), dtype=np.int64)
    for r in range(runs):
        seeds[r] = _seed_centres(g, w, top, draws[r])
    best, best_s = np.empty(0, dtype=np.int64), min_silhouette
    for k in ks:
        chosen, chosen_obj = np.empty(0, dtype=np.int64), -np.inf
        for r in range(runs):
            labels, objective = _lloyd(g, w, seeds[r, :k], iters)
            if objective > chosen_obj + _TINY:
                chosen, chosen_obj = labels, objective
        s = _silhouette(d, chosen)
        if s > best_s:
            best, best_s = chosen, s
    return best, best_s
