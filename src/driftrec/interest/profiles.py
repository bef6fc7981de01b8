"""Readable profiles of users and segments, as plain JSON-ready dicts.

An interest vector is described by the catalogue items nearest to it: their titles, and
the genres (or, without a genres column, the title words) most common among them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from driftrec.data.schema import ITEM_ID
from driftrec.interest.segments import Segmentation
from driftrec.interest.state import InterestState
from driftrec.text.encoders import l2_normalise

_STOP = frozenset({
    "a", "an", "and", "the", "of", "in", "on", "to", "for", "with", "from", "at", "by", "is",
    "are", "was", "be", "it", "its", "this", "that", "or", "as", "not", "no", "de", "la", "le",
    "el", "los", "les", "der", "die", "das", "part",
})


class ItemLabeler:
    """Names a set of items by their most common genres, else their most common words."""

    def __init__(self, items: pd.DataFrame, *, genre_column: str = "genres",
                 title_column: str = "title") -> None:
        ids = items[ITEM_ID].astype(str).tolist()
        self.titles = dict(zip(ids, items[title_column].fillna("").astype(str), strict=True)) \
            if title_column in items.columns else {i: i for i in ids}
        self.genres: dict[str, list[str]] = {}
        if genre_column in items.columns:
            for i, g in zip(ids, items[genre_column].fillna("").astype(str), strict=True):
                self.genres[i] = [x.strip() for x in g.split("|") if x.strip()]

    def terms(self, item_ids: Sequence[str], weights: Sequence[float] | None = None,
              top: int = 3) -> list[tuple[str, float]]:
        """Top terms with their share of the (weighted) items."""
        weights = [1.0] * len(item_ids) if weights is None else list(weights)
        counts: Counter[str] = Counter()
        for i, w in zip(item_ids, weights, strict=True):
            words = self.genres.get(str(i)) or self._words(self.titles.get(str(i), ""))
            for t in dict.fromkeys(words):
                counts[t] += w
        total = sum(weights) or 1.0
        ranked = sorted(counts.items(), key=lambda tc: (-tc[1], tc[0]))[:top]
        return [(t, round(c / total, 3)) for t, c in ranked]

    @staticmethod
    def _words(title: str) -> list[str]:
        return [w for w in re.findall(r"[^\W\d_]{3,}", title.lower()) if w not in _STOP]

    def __call__(self, item_ids: Sequence[str]) -> str:
        return ", ".join(t for t, _ in self.terms(item_ids)) or "misc"


class Profiler:
    """Builds user and segment profiles over one catalogue."""

    def __init__(self, items: pd.DataFrame, item_vectors: np.ndarray,
                 segmentation: Segmentation | None = None, *, n_items: int = 10) -> None:
        self.item_ids = items[ITEM_ID].astype(str).tolist()
        self.item_vectors = l2_normalise(item_vectors)
        self.labeler = ItemLabeler(items)
        self.segmentation = segmentation
        self.n_items = n_items

    def describe(self, vector: np.ndarray) -> dict[str, Any]:
        """Nearest items to an interest vector and the terms they share."""
        v = np.asarray(vector, dtype=np.float32)
        if not np.abs(v).sum():
            return {"terms": [], "items": []}
        sims = self.item_vectors @ (v / np.linalg.norm(v))
        top = np.argsort(-sims, kind="stable")[: self.n_items]
        ids = [self.item_ids[j] for j in top]
        return {
            "terms": [{"term": t, "share": s} for t, s in self.labeler.terms(ids, top=5)],
            "items": [{"item_id": i, "title": self.labeler.titles.get(i, i),
                       "similarity": round(float(sims[j]), 4)} for i, j in zip(ids, top,
                                                                               strict=True)],
        }

    def user(self, state: InterestState) -> dict[str, Any]:
        """Profile of one user: long vs short-term interest, clusters, drift, segment."""
        total = sum(c.mass for c in state.clusters) or 1.0
        seg = -1
        if self.segmentation is not None and state.long_term.any():
            seg = int(self.segmentation.assign(state.long_term[None, :])[0])
        return {
            "user_id": state.user_id,
            "n_events": state.n_events,
            "last_event_time": state.clock,
            "drift": round(state.drift, 4),
            "long_term": self.describe(state.long_term),
            "short_term": self.describe(state.short_term),
            "clusters": [
                {"label": c.label or self.labeler(c.items), "weight": round(c.mass / total, 4),
                 "items": [{"item_id": i, "title": self.labeler.titles.get(i, i)}
                           for i in c.items[-5:]]}
                for c in sorted(state.clusters, key=lambda c: -c.mass)
            ],
            "recent_items": [{"item_id": i, "title": self.labeler.titles.get(i, i)}
                             for i in state.recent_items[-10:]],
            "segment": seg,
        }

    def segment(self, segment_id: int) -> dict[str, Any]:
        """Profile of one segment: size, share of users and what its centroid means."""
        if self.segmentation is None:
            raise ValueError("this profiler has no segmentation")
        seg = self.segmentation
        if not 0 <= segment_id < seg.k:
            raise ValueError(f"segment {segment_id} does not exist (k = {seg.k})")
        sizes = seg.sizes()
        desc = self.describe(seg.centroids[segment_id])
        return {
            "segment": segment_id,
            "label": ", ".join(t["term"] for t in desc["terms"][:3]) or "misc",
            "users": int(sizes[segment_id]),
            "share": round(float(sizes[segment_id] / max(sizes.sum(), 1)), 4),
            **desc,
        }

    def segments(self) -> dict[str, Any]:
        """All segments plus how k was chosen."""
        seg = self.segmentation
        if seg is None:
            raise ValueError("this profiler has no segmentation")
        return {"k": seg.k, "silhouette": round(seg.silhouette, 4),
                "silhouette_by_k": {str(k): round(v, 4) for k, v in seg.silhouette_by_k.items()},
                "segments": [self.segment(s) for s in range(seg.k)]}
