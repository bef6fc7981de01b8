"""User segments: k-means over interest vectors, k chosen by silhouette, seeded.

Vectors are L2-normalised first, so Euclidean k-means on them is spherical k-means
(cosine). Every k in ``k_values`` is fitted and scored by the cosine silhouette on a
seeded sample of users; the best k wins and all scores are kept for the report.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftrec.text.encoders import l2_normalise

log = logging.getLogger(__name__)


@dataclass
class Segmentation:
    """Segment centroids and each user's segment (``-1``: no interest to place them by)."""

    centroids: np.ndarray
    user_ids: list[str]
    labels: np.ndarray
    silhouette_by_k: dict[int, float] = field(default_factory=dict)
    seed: int = 0

    @property
    def k(self) -> int:
        return len(self.centroids)

    @property
    def silhouette(self) -> float:
        return self.silhouette_by_k.get(self.k, float("nan"))

    def assign(self, vectors: np.ndarray) -> np.ndarray:
        """Nearest segment of each vector (``-1`` for an all-zero vector)."""
        v = l2_normalise(vectors)
        seg = np.argmax(v @ self.centroids.T, axis=1)
        return np.where(np.abs(v).sum(1) > 0, seg, -1)

    def segment_of(self, user_id: str) -> int:
        try:
            return int(self.labels[self.user_ids.index(str(user_id))])
        except ValueError:
            return -1

    def sizes(self) -> np.ndarray:
        return np.bincount(self.labels[self.labels >= 0], minlength=self.k)

    def to_dict(self) -> dict[str, Any]:
        return {"k": self.k, "seed": self.seed, "centroids": self.centroids.tolist(),
                "user_ids": list(self.user_ids), "labels": self.labels.tolist(),
                "silhouette_by_k": {str(k): v for k, v in self.silhouette_by_k.items()}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Segmentation:
        return cls(np.asarray(d["centroids"], dtype=np.float32), list(d["user_ids"]),
                   np.asarray(d["labels"], dtype=np.int64),
                   {int(k): float(v) for k, v in d.get("silhouette_by_k", {}).items()},
                   int(d.get("seed", 0)))


def segment_users(
    user_ids: Sequence[str],
    vectors: np.ndarray,
    *,
    k_values: Sequence[int] = (2, 3, 4, 5, 6, 8, 10, 12),
    seed: int = 0,
    sample_size: int = 3000,
    n_init: int = 4,
) -> Segmentation:
    """Fit k-means for each k and keep the one with the best silhouette."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    if len(user_ids) != len(vectors):
        raise ValueError(f"{len(user_ids)} user ids but {len(vectors)} interest vectors")
    v = l2_normalise(vectors)
    active = np.flatnonzero(np.abs(v).sum(1) > 0)
    ks = sorted({int(k) for k in k_values if 2 <= k < len(active)})
    if not ks:
        raise ValueError(f"need more users with interest than the smallest k "
                         f"({len(active)} users, k values {list(k_values)})")
    x = v[active]
    scores: dict[int, float] = {}
    best: tuple[float, Any] = (-np.inf, None)
    for k in ks:
        km = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(x)
        s = float(silhouette_score(x, km.labels_, metric="cosine",
                                   sample_size=min(sample_size, len(x)), random_state=seed))
        scores[k] = s
        log.info("segments: k=%d silhouette=%.4f", k, s)
        if s > best[0]:
            best = (s, km)
    km = best[1]
    labels = np.full(len(v), -1, dtype=np.int64)
    labels[active] = km.labels_
    return Segmentation(l2_normalise(km.cluster_centers_), [str(u) for u in user_ids], labels,
                        scores, seed)
