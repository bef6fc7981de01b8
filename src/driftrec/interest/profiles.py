"""Readable profiles of users and segments, as plain JSON-ready dicts.

An interest vector is described by the catalogue items nearest to it: their titles, and
the genres (or, without a genres column, the title words) most common among them.

A segment is described by what sets it apart from the whole population
(:func:`segment_profiles`, used offline and by the service alike): the genres and title
words whose share of the members' events most exceeds their share of everybody's events,
scored ``share_in_segment * log(lift)`` with ``lift = share_in_segment / share_overall``
(add-one smoothed), so a term needs both support and distinctiveness; exemplar items (the
items most similar to the segment's centroid, both centred on the population's mean
interest, among items its members engaged with); size and share; and typical drift
(quantiles of ``1 - cos(short-term, long-term)`` over its members).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
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
                 segmentation: Segmentation | None = None, *, n_items: int = 10,
                 member_items: Sequence[Sequence[str]] | None = None,
                 drift: np.ndarray | None = None) -> None:
        self.item_ids = items[ITEM_ID].astype(str).tolist()
        self.item_vectors = l2_normalise(item_vectors)
        self.labeler = ItemLabeler(items)
        self.segmentation = segmentation
        self.n_items = n_items
        #: Items each segmented user engaged with (rows of ``segmentation.user_ids``) and
        #: their drift: what distinguishing-term profiles are computed from.
        self.member_items = member_items
        self.drift = drift
        self._profiles: dict[int, dict[str, Any]] | None = None

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
        """Profile of one segment: size, share, what distinguishes it (with member items),
        and what its centroid means (nearest items and their terms)."""
        if self.segmentation is None:
            raise ValueError("this profiler has no segmentation")
        seg = self.segmentation
        row = seg.row(segment_id)
        sizes = seg.sizes()
        desc = self.describe(seg.interest_centroids[row])
        out = {
            "segment": segment_id,
            "label": ", ".join(t["term"] for t in desc["terms"][:3]) or "misc",
            "users": int(sizes[row]),
            "share": round(float(sizes[row] / max(sizes.sum(), 1)), 4),
            **desc,
        }
        if self.member_items is not None:
            if self._profiles is None:
                self._profiles = {p["id"]: p for p in segment_profiles(
                    seg, self.member_items, topics=self.labeler.genres,
                    titles=self.labeler.titles,
                    item_vectors=dict(zip(self.item_ids, self.item_vectors, strict=True)),
                    drift=self.drift)}
            prof = self._profiles[segment_id]
            out.update({k: v for k, v in prof.items() if k not in ("id", "users", "share")})
        return out

    def segments(self) -> dict[str, Any]:
        """All segments plus how k was chosen."""
        seg = self.segmentation
        if seg is None:
            raise ValueError("this profiler has no segmentation")
        return {"k": seg.k, "silhouette": round(seg.silhouette, 4),
                "silhouette_by_k": {str(k): round(v, 4) for k, v in seg.silhouette_by_k.items()},
                "criteria": {str(k): {n: round(v, 4) for n, v in c.items()}
                             for k, c in seg.criteria.items()},
                "segments": [self.segment(int(s)) for s in seg.ids]}


def title_words(title: str) -> list[str]:
    """Distinct lower-case words of a title (three letters or more, no stop words)."""
    return list(dict.fromkeys(ItemLabeler._words(title)))


def _distinguishing(seg_counts: Counter[str], seg_total: float, all_counts: Counter[str],
                    all_total: float, top: int, min_share: float) -> list[dict[str, Any]]:
    vocab = max(len(all_counts), 1)
    scored = []
    for term, c in seg_counts.items():
        share = c / seg_total
        if share < min_share:
            continue
        lift = ((c + 1) / (seg_total + vocab)) / ((all_counts[term] + 1) / (all_total + vocab))
        if lift <= 1.0:
            continue
        scored.append((share * math.log(lift), term, share, lift))
    scored.sort(key=lambda r: (-r[0], r[1]))
    return [{"term": term, "share": round(share, 4), "lift": round(lift, 3),
             "score": round(score, 5)} for score, term, share, lift in scored[:top]]


def segment_profiles(
    segmentation: Segmentation,
    member_items: Sequence[Sequence[str]],
    *,
    topics: Mapping[str, Sequence[str]],
    titles: Mapping[str, str],
    item_vectors: Mapping[str, np.ndarray],
    drift: np.ndarray | Sequence[float] | None = None,
    n_terms: int = 5,
    n_exemplars: int = 5,
    n_items: int = 10,
    min_share: float = 0.01,
    min_events: int = 3,
    drift_sample: int = 200,
) -> list[dict[str, Any]]:
    """JSON-ready profile of each segment (see module docstring), in ``ids`` order.

    ``member_items[i]`` are the items user ``segmentation.user_ids[i]`` engaged with,
    ``topics`` an item's topic words (genres), ``drift[i]`` that user's drift. Every item
    a member engaged with counts once per member.
    """
    seg = segmentation
    labels = np.asarray(seg.labels)
    if len(member_items) != len(labels):
        raise ValueError(f"{len(member_items)} item lists for {len(labels)} users")
    per_items = {int(s): Counter() for s in seg.ids}
    per_topics = {int(s): Counter() for s in seg.ids}
    per_words = {int(s): Counter() for s in seg.ids}
    all_topics: Counter[str] = Counter()
    all_words: Counter[str] = Counter()
    words_of = {i: title_words(t) for i, t in titles.items()}
    for label, items in zip(labels.tolist(), member_items, strict=True):
        items = list(dict.fromkeys(str(i) for i in items))
        tc = Counter(t for i in items for t in topics.get(i, ()))
        wc = Counter(w for i in items for w in words_of.get(i, ()))
        all_topics.update(tc)
        all_words.update(wc)
        if label >= 0 and label in per_items:
            per_items[label].update(items)
            per_topics[label].update(tc)
            per_words[label].update(wc)
    all_events = sum(sum(c.values()) for c in per_items.values()) or 1
    drift_arr = None if drift is None else np.asarray(drift, dtype=np.float64)
    vec_ids = [i for i in item_vectors]
    mat = l2_normalise(np.stack([item_vectors[i] for i in vec_ids])) if vec_ids else None
    centre = mat.mean(axis=0) if mat is not None else None
    sizes = seg.sizes()
    total_users = max(int(sizes.sum()), 1)
    out = []
    for row, sid in enumerate(seg.ids.tolist()):
        counts = per_items[sid]
        n_ev = sum(counts.values()) or 1
        genres = _distinguishing(per_topics[sid], n_ev, all_topics, all_events, n_terms,
                                 min_share)
        words = _distinguishing(per_words[sid], n_ev, all_words, all_events, n_terms,
                                min_share)
        exemplars: list[dict[str, Any]] = []
        if mat is not None:
            c = seg.interest_centroids[row]
            c = l2_normalise((c - centre)[None, :])[0]
            sims = l2_normalise(mat - centre) @ c
            eligible = [j for j in np.argsort(-sims, kind="stable")
                        if counts.get(vec_ids[j], 0) >= min_events]
            exemplars = [{"item_id": vec_ids[j], "title": titles.get(vec_ids[j], vec_ids[j]),
                          "similarity": round(float(sims[j]), 4),
                          "events": int(counts[vec_ids[j]])} for j in eligible[:n_exemplars]]
        typical: dict[str, Any] = {}
        if drift_arr is not None:
            d = drift_arr[(labels == sid) & np.isfinite(drift_arr)]
            if len(d):
                q = np.quantile(d, [0.25, 0.5, 0.75])
                step = max(1, len(d) // drift_sample)
                typical = {"p25": round(float(q[0]), 4), "median": round(float(q[1]), 4),
                           "p75": round(float(q[2]), 4),
                           "sample": [round(float(x), 4) for x in np.sort(d)[::step]]}
        label = ", ".join(g["term"] for g in genres[:3]) or \
            ", ".join(w["term"] for w in words[:3]) or f"segment {sid}"
        out.append({
            "id": int(sid), "label": label, "users": int(sizes[row]),
            "share": round(int(sizes[row]) / total_users, 4),
            "genres": genres, "title_words": words, "exemplars": exemplars,
            "drift": typical,
            "top_items": [{"item_id": i, "title": titles.get(i, i), "count": int(n)}
                          for i, n in sorted(counts.items(), key=lambda x: (-x[1], x[0]))
                          [:n_items]],
        })
    return out
