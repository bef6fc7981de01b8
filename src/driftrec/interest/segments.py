"""User segments: k-means over interest vectors, with ids that keep their meaning.

**Space.** Users are clustered in a *segment space*: their unit long-term vectors, centred
on the population mean and projected onto its first ``dims`` principal directions, then
normalised again (so Euclidean k-means there is spherical k-means, cosine). Long-term
interest in a text-embedding space shares one large common direction (everybody likes
popular films); centring removes it and the principal directions keep what tells users
apart. ``dims=None`` clusters the unit vectors themselves (no centring, no projection).

**k.** Every k in ``k_values`` is scored by criteria that reflect use (:func:`k_criteria`):
the cosine silhouette on a seeded sample, the agreement of fits from other seeds, and the
agreement of fits on bootstrap samples (adjusted Rand index on the users both samples
contain). :func:`choose_k` keeps the best silhouette among the k values that are stable
(bootstrap ARI >= ``min_stability``), the best silhouette overall when none is.

**Identity.** A refit is matched to the previous segmentation (:func:`match_ids`:
Hungarian matching on centroid cosine similarity in interest space) so a segment keeps its
id; between refits :meth:`Segmentation.follow` moves each centroid towards the mean of the
users now nearest to it (a running mean), and new or moving users are placed online by
:meth:`Segmentation.assign`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftrec.text.encoders import l2_normalise

log = logging.getLogger(__name__)

#: Principal directions of the default segment space (see module docstring; measured in
#: ``benchmarks/bench_segments.py``).
DEFAULT_DIMS = 8
#: k values tried by default.
DEFAULT_K_VALUES = tuple(range(2, 13))
#: Bootstrap ARI a k needs to count as stable.
MIN_STABILITY = 0.8
#: Cosine similarity below which a new centroid is a new segment rather than an old one.
MIN_MATCH = 0.5


@dataclass
class Space:
    """Centring and projection of unit interest vectors (``basis``: ``(dims, dim)``)."""

    mean: np.ndarray
    basis: np.ndarray

    @classmethod
    def fit(cls, unit_vectors: np.ndarray, dims: int) -> Space:
        mean = unit_vectors.mean(axis=0)
        _, _, vt = np.linalg.svd(unit_vectors - mean, full_matrices=False)
        return cls(mean.astype(np.float32), vt[:dims].astype(np.float32))

    def project(self, unit_vectors: np.ndarray) -> np.ndarray:
        return l2_normalise((unit_vectors - self.mean) @ self.basis.T)


def _project(space: Space | None, vectors: np.ndarray) -> np.ndarray:
    v = l2_normalise(np.asarray(vectors, dtype=np.float32))
    return v if space is None else space.project(v)


@dataclass
class Segmentation:
    """Segment centroids and each user's segment id (``-1``: no interest to place them by).

    ``centroids`` live in the segment space (``space``; ``None``: unit interest vectors);
    ``interest_centroids`` are the unit means of the members' interest vectors, in interest
    space, for reading (topics) and for matching across refits. ``ids[r]`` is the id of
    centroid row ``r``; ``labels`` hold ids.
    """

    centroids: np.ndarray
    user_ids: list[str]
    labels: np.ndarray
    silhouette_by_k: dict[int, float] = field(default_factory=dict)
    seed: int = 0
    ids: np.ndarray | None = None
    space: Space | None = None
    interest_centroids: np.ndarray | None = None
    #: Criteria per k tried: ``{k: {"silhouette", "seed_ari", "bootstrap_ari"}}``.
    criteria: dict[int, dict[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.ids is None:
            self.ids = np.arange(len(self.centroids), dtype=np.int64)
        self.ids = np.asarray(self.ids, dtype=np.int64)
        if self.interest_centroids is None:
            self.interest_centroids = self.centroids if self.space is None else \
                l2_normalise(self.centroids @ self.space.basis + self.space.mean)

    @property
    def k(self) -> int:
        return len(self.centroids)

    @property
    def silhouette(self) -> float:
        return self.silhouette_by_k.get(self.k, float("nan"))

    def row(self, segment_id: int) -> int:
        """Centroid row of a segment id (``ValueError`` when there is no such segment)."""
        hits = np.flatnonzero(self.ids == segment_id)
        if not len(hits):
            raise ValueError(f"segment {segment_id} does not exist (ids {self.ids.tolist()})")
        return int(hits[0])

    def project(self, vectors: np.ndarray) -> np.ndarray:
        return _project(self.space, vectors)

    def assign(self, vectors: np.ndarray) -> np.ndarray:
        """Segment id of each interest vector (``-1`` for an all-zero vector)."""
        v = np.asarray(vectors, dtype=np.float32)
        rows = np.argmax(self.project(v) @ self.centroids.T, axis=1)
        return np.where(np.abs(v).sum(1) > 0, self.ids[rows], -1)

    def segment_of(self, user_id: str) -> int:
        try:
            return int(self.labels[self.user_ids.index(str(user_id))])
        except ValueError:
            return -1

    def sizes(self) -> np.ndarray:
        """Members per centroid row."""
        return np.array([int((self.labels == i).sum()) for i in self.ids], dtype=np.int64)

    def follow(self, vectors: np.ndarray, rate: float = 0.5,
               user_ids: Sequence[str] | None = None) -> Segmentation:
        """Centroids moved towards the population now: each becomes
        ``(1 - rate) * old + rate * mean(users nearest to it)``, renormalised (ids, k and
        space kept; a segment nobody is nearest to stays where it was)."""
        v = np.asarray(vectors, dtype=np.float32)
        active = np.abs(v).sum(1) > 0
        z = self.project(v[active])
        rows = np.argmax(z @ self.centroids.T, axis=1)
        unit = l2_normalise(v[active])
        cent, icent = self.centroids.copy(), self.interest_centroids.copy()
        for r in range(self.k):
            members = rows == r
            if members.any():
                cent[r] = (1 - rate) * cent[r] + rate * z[members].mean(0)
                icent[r] = (1 - rate) * icent[r] + rate * unit[members].mean(0)
        labels = np.full(len(v), -1, dtype=np.int64)
        labels[active] = self.ids[rows]
        ids = list(user_ids) if user_ids is not None else list(self.user_ids)
        return Segmentation(l2_normalise(cent), [str(u) for u in ids], labels,
                            dict(self.silhouette_by_k), self.seed, self.ids.copy(),
                            self.space, l2_normalise(icent), dict(self.criteria))

    def to_dict(self) -> dict[str, Any]:
        return {"k": self.k, "seed": self.seed, "centroids": self.centroids.tolist(),
                "ids": self.ids.tolist(), "user_ids": list(self.user_ids),
                "labels": self.labels.tolist(),
                "interest_centroids": self.interest_centroids.tolist(),
                "space": None if self.space is None else
                {"mean": self.space.mean.tolist(), "basis": self.space.basis.tolist()},
                "silhouette_by_k": {str(k): v for k, v in self.silhouette_by_k.items()},
                "criteria": {str(k): v for k, v in self.criteria.items()}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Segmentation:
        sp = d.get("space")
        space = None if not sp else Space(np.asarray(sp["mean"], dtype=np.float32),
                                          np.asarray(sp["basis"], dtype=np.float32))
        ic = d.get("interest_centroids")
        return cls(np.asarray(d["centroids"], dtype=np.float32), list(d.get("user_ids", [])),
                   np.asarray(d.get("labels", []), dtype=np.int64),
                   {int(k): float(v) for k, v in d.get("silhouette_by_k", {}).items()},
                   int(d.get("seed", 0)), d.get("ids"), space,
                   None if ic is None else np.asarray(ic, dtype=np.float32),
                   {int(k): dict(v) for k, v in d.get("criteria", {}).items()})


def _kmeans(x: np.ndarray, k: int, seed: int, n_init: int):
    import warnings

    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():  # duplicates (bootstrap samples, identical users)
        warnings.simplefilter("ignore", ConvergenceWarning)
        return KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(x)


def k_criteria(x: np.ndarray, k: int, *, seed: int = 0, runs: int = 2, n_init: int = 4,
               sample_size: int = 3000, fitted: Any = None) -> dict[str, float]:
    """Silhouette, seed ARI and bootstrap ARI of k-means with ``k`` clusters on ``x``.

    ``seed_ari``: mean ARI between the fit with ``seed`` and ``runs`` fits with other seeds;
    ``bootstrap_ari``: mean over ``runs`` pairs of bootstrap samples (drawn with
    replacement) of the ARI of the two fits' labels for the users both samples contain.
    """
    from sklearn.metrics import adjusted_rand_score, silhouette_score

    base = fitted if fitted is not None else _kmeans(x, k, seed, n_init)
    out = {"silhouette": float(silhouette_score(
        x, base.labels_, metric="cosine", sample_size=min(sample_size, len(x)),
        random_state=seed))}
    if runs <= 0:
        return out
    seed_ari = [adjusted_rand_score(base.labels_, _kmeans(x, k, seed + 1 + r, n_init).labels_)
                for r in range(runs)]
    rng = np.random.default_rng(seed)
    boot = []
    for r in range(runs):
        a, b = rng.integers(0, len(x), len(x)), rng.integers(0, len(x), len(x))
        common = np.intersect1d(a, b)
        fa = _kmeans(x[a], k, seed + 100 + 2 * r, n_init)
        fb = _kmeans(x[b], k, seed + 101 + 2 * r, n_init)
        boot.append(adjusted_rand_score(fa.predict(x[common]), fb.predict(x[common])))
    out["seed_ari"] = float(np.mean(seed_ari))
    out["bootstrap_ari"] = float(np.mean(boot))
    return out


def choose_k(criteria: dict[int, dict[str, float]],
             min_stability: float = MIN_STABILITY) -> int:
    """The best silhouette among stable k (bootstrap ARI >= ``min_stability``, when
    measured), else the best silhouette; ties go to the smaller k."""
    stable = [k for k, c in criteria.items() if c.get("bootstrap_ari", 1.0) >= min_stability]
    pool = stable or list(criteria)
    return max(sorted(pool), key=lambda k: criteria[k]["silhouette"])


def segment_users(
    user_ids: Sequence[str],
    vectors: np.ndarray,
    *,
    k_values: Sequence[int] = DEFAULT_K_VALUES,
    seed: int = 0,
    sample_size: int = 3000,
    n_init: int = 4,
    dims: int | None = DEFAULT_DIMS,
    stability_runs: int = 2,
    min_stability: float = MIN_STABILITY,
    previous: Segmentation | None = None,
    next_id: int | None = None,
) -> Segmentation:
    """Fit k-means for each k, keep the k :func:`choose_k` picks; with ``previous``, the
    new segments take the ids of the old ones they match (:func:`match_ids`; ``next_id``:
    the first id never used, so a retired id is never given a new meaning)."""
    if len(user_ids) != len(vectors):
        raise ValueError(f"{len(user_ids)} user ids but {len(vectors)} interest vectors")
    v = l2_normalise(np.asarray(vectors, dtype=np.float32))
    active = np.flatnonzero(np.abs(v).sum(1) > 0)
    ks = sorted({int(k) for k in k_values if 2 <= k < len(active)})
    if not ks:
        raise ValueError(f"need more users with interest than the smallest k "
                         f"({len(active)} users, k values {list(k_values)})")
    unit = v[active]
    space = None
    if dims is not None and 0 < dims < unit.shape[1] and len(unit) > dims:
        space = Space.fit(unit, dims)
    x = _project(space, unit)
    fits, criteria = {}, {}
    for k in ks:
        fits[k] = _kmeans(x, k, seed, n_init)
        criteria[k] = k_criteria(x, k, seed=seed, runs=stability_runs, n_init=n_init,
                                 sample_size=sample_size, fitted=fits[k])
        log.info("segments: k=%d %s", k, {n: round(s, 4) for n, s in criteria[k].items()})
    k = choose_k(criteria, min_stability)
    km = fits[k]
    rows = km.labels_
    icent = l2_normalise(np.stack([unit[rows == r].mean(0) if (rows == r).any()
                                   else np.zeros(unit.shape[1]) for r in range(k)]))
    ids = np.arange(k, dtype=np.int64)
    if previous is not None:
        ids = match_ids(previous, icent, unit.mean(0), next_id=next_id)
    labels = np.full(len(v), -1, dtype=np.int64)
    labels[active] = ids[rows]
    return Segmentation(l2_normalise(km.cluster_centers_).astype(np.float32),
                        [str(u) for u in user_ids], labels,
                        {kk: c["silhouette"] for kk, c in criteria.items()}, seed, ids, space,
                        icent.astype(np.float32), criteria)


def match_ids(previous: Segmentation, interest_centroids: np.ndarray,
              centre: np.ndarray | None = None, min_similarity: float = MIN_MATCH,
              next_id: int | None = None) -> np.ndarray:
    """Ids for new centroids (rows of ``interest_centroids``): each takes the id of the old
    segment it is matched to (Hungarian matching maximising the total cosine similarity of
    the centroids, both centred on ``centre``, the population mean, when given); one
    matched below ``min_similarity`` or left over (k grew) takes a fresh id (from
    ``next_id``, default one above the old ids)."""
    from scipy.optimize import linear_sum_assignment

    def centred(c: np.ndarray) -> np.ndarray:
        return l2_normalise(c - centre) if centre is not None else l2_normalise(c)

    sim = centred(np.asarray(interest_centroids)) @ centred(previous.interest_centroids).T
    new_rows, old_rows = linear_sum_assignment(-sim)
    ids = np.full(len(interest_centroids), -1, dtype=np.int64)
    for n, o in zip(new_rows, old_rows, strict=True):
        if sim[n, o] >= min_similarity:
            ids[n] = previous.ids[o]
    fresh = max(int(previous.ids.max(initial=-1)) + 1, next_id or 0)
    for r in np.flatnonzero(ids < 0):
        ids[r] = fresh
        fresh += 1
    return ids
