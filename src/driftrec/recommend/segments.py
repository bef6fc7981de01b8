"""User segments over the stored interest states, rebuilt in the background.

Segments are k-means clusters of users' long-term interest vectors
(:func:`driftrec.interest.segments.segment_users`, k chosen by silhouette). Each segment
gets a label (its centroid's topics) and its own item popularity (the recent items of its
members), which is what "popular in your segment" means. Every process builds its own copy
from the database, so all processes agree once each has rebuilt.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftrec.interest.segments import Segmentation, segment_users
from driftrec.recommend.catalogue import Catalogue
from driftrec.recommend.profile import topics
from driftrec.store import Store

log = logging.getLogger(__name__)

MIN_USERS = 8


@dataclass
class Segments:
    """One build: the segmentation, labels and per-segment item counts."""

    segmentation: Segmentation
    labels: list[str]
    item_counts: list[dict[str, int]]
    built_at: float = field(default_factory=time.time)

    def assign(self, vector: np.ndarray | None) -> int:
        if vector is None or not np.any(vector):
            return -1
        return int(self.segmentation.assign(np.asarray(vector)[None, :])[0])

    def describe(self, segment: int) -> dict[str, Any] | None:
        if segment < 0:
            return None
        sizes = self.segmentation.sizes()
        return {"id": segment, "label": self.labels[segment], "users": int(sizes[segment])}

    def overview(self, catalogue: Catalogue, n_items: int = 5) -> list[dict[str, Any]]:
        sizes = self.segmentation.sizes()
        total = max(int(sizes.sum()), 1)
        out = []
        for s in range(self.segmentation.k):
            top = Counter(self.item_counts[s]).most_common(n_items)
            out.append({"id": s, "label": self.labels[s], "users": int(sizes[s]),
                        "share": round(int(sizes[s]) / total, 4),
                        "top_items": [{"item_id": i, "title": catalogue.title(i), "count": c}
                                      for i, c in top]})
        return out


class SegmentIndex:
    """Holds the latest :class:`Segments`; rebuilds when older than ``max_age_s``."""

    def __init__(self, store: Store, catalogue: Catalogue, *, max_age_s: float = 600.0,
                 max_users: int = 50_000, seed: int = 0) -> None:
        self.store = store
        self.catalogue = catalogue
        self.max_age_s = max_age_s
        self.max_users = max_users
        self.seed = seed
        self.current: Segments | None = None
        self._building = threading.Lock()
        self._last_try = 0.0

    def get(self) -> Segments | None:
        """The latest segments; starts a background rebuild when they are stale."""
        stale = self.current is None or time.time() - self.current.built_at > self.max_age_s
        if stale and time.time() - self._last_try > min(self.max_age_s, 60.0):
            self._last_try = time.time()
            threading.Thread(target=self.rebuild, name="segments", daemon=True).start()
        return self.current

    def forget(self, user_key: str) -> None:
        """Drop an erased user from the current build and rebuild in the background.

        Other processes drop them at their next rebuild (``max_age_s`` at most).
        """
        current = self.current
        if current is not None and user_key in current.segmentation.user_ids:
            seg = current.segmentation
            i = seg.user_ids.index(user_key)
            seg.user_ids = seg.user_ids[:i] + seg.user_ids[i + 1:]
            seg.labels = np.delete(seg.labels, i)
            threading.Thread(target=self.rebuild, name="segments", daemon=True).start()

    def rebuild(self) -> Segments | None:
        """Build segments from the stored states now (skipped if a build is running)."""
        if not self._building.acquire(blocking=False):
            return self.current
        try:
            built = self._build()
            if built is not None:
                self.current = built
            return self.current
        except Exception:
            log.exception("segment rebuild failed")
            return self.current
        finally:
            self._building.release()

    def _build(self) -> Segments | None:
        keys, vectors, recents = [], [], []
        dim = self.catalogue.dim
        for key, state in self.store.iter_states():
            if int(state.get("dim", -1)) != dim:
                continue
            v = np.asarray(state.get("long_sum", ()), dtype=np.float32)
            if not v.any():
                continue
            keys.append(key)
            vectors.append(v)
            recents.append([r[0] for r in state.get("recent", []) if r and r[0] is not None])
            if len(keys) >= self.max_users:
                break
        if len(keys) < MIN_USERS:
            log.info("segments: %d users with interest, need %d", len(keys), MIN_USERS)
            return None
        x = np.stack(vectors)
        distinct = len(np.unique(np.round(x / np.linalg.norm(x, axis=1, keepdims=True), 5),
                                 axis=0))
        k_values = [k for k in (2, 3, 4, 5, 6, 8, 10, 12)
                    if k < len(keys) // 2 and k < distinct]
        if not k_values:
            log.info("segments: too few distinct interests (%d) to segment", distinct)
            return None
        seg = segment_users(keys, x, k_values=k_values, seed=self.seed)
        labels = [", ".join(topics(c, self.catalogue, 3)) or f"segment {i}"
                  for i, c in enumerate(seg.centroids)]
        counts: list[Counter[str]] = [Counter() for _ in range(seg.k)]
        for label, items in zip(seg.labels, recents, strict=True):
            if label >= 0:
                counts[label].update(items)
        log.info("segments: %d users in %d segments", len(keys), seg.k)
        return Segments(seg, labels, [dict(c) for c in counts])
