"""A user's interest profile and interest-over-time, in terms a person can read.

Topics of a vector are the topic attributes (genres, tags, categories ...) of the user's
own recent items, each weighted by its similarity to the vector, so long- and short-term
interest read differently when they differ; without such items, the catalogue items
nearest to the vector stand in; a catalogue without topic attributes gives titles.

Interest-over-time replays the user's stored events through the
same state update the service applies live, and projects the vectors onto the catalogue's
two main directions (PCA) so that a plot shows where interest went.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from driftrec.interest.state import InterestState, new_state
from driftrec.recommend.interest import apply_events
from driftrec.recommend.served_items import Catalogue
from driftrec.store import StoredEvent

NEIGHBOURS = 20
MAX_TOPICS = 5


#: Attribute names whose values are topics (other attributes, e.g. year or price, are not).
TOPIC_KEYS = frozenset({"genres", "genre", "tags", "tag", "categories", "category", "topics",
                        "topic", "keywords", "subjects", "subject"})


def item_topics(attributes: dict[str, Any]) -> list[str]:
    """Topic words of one item: values of topic-like attributes, and any list attribute."""
    words: list[str] = []
    for key, value in attributes.items():
        if isinstance(value, (list, tuple)):
            words += [str(v).strip() for v in value]
        elif str(key).lower() in TOPIC_KEYS and isinstance(value, str):
            sep = "|" if "|" in value else ","
            words += [v.strip() for v in value.split(sep)]
    return [w for w in words if w and not w.isdigit() and len(w) <= 40]


def topics(vec: np.ndarray | None, catalogue: Catalogue, n: int = MAX_TOPICS,
           items: Sequence[str] | None = None) -> list[str]:
    """Readable words for a point in interest space (see module docstring).

    With ``items`` (e.g. the user's recent items) the words come from those items, each
    weighted by its similarity to ``vec``; otherwise from the catalogue items nearest to it.
    """
    if vec is None or not np.any(vec) or not len(catalogue):
        return []
    rows = [catalogue.pos[i] for i in dict.fromkeys(items or []) if i in catalogue.pos]
    rows = [r for r in rows if catalogue.has_vector[r]]
    if not rows:
        usable = catalogue.has_vector & ~catalogue.hidden
        sims = np.where(usable, catalogue.vectors @ vec, -np.inf)
        rows = [int(i) for i in np.argsort(-sims)[:NEIGHBOURS] if np.isfinite(sims[i])]
    sims = catalogue.vectors[rows] @ vec if rows else np.zeros(0)
    weights: Counter[str] = Counter()
    for r, sim in zip(rows, sims, strict=True):
        for word in item_topics(catalogue.attributes[r]):
            weights[word] += float(max(sim, 0.0))
    if weights:
        return [w for w, c in weights.most_common(n) if c > 0] or [w for w, _ in
                                                                   weights.most_common(n)]
    order = np.argsort(-sims, kind="stable")[:n]
    return [catalogue.titles[rows[i]] for i in order]


def build_profile(state: InterestState, n_events: int, catalogue: Catalogue,
                  segment: dict[str, Any] | None = None) -> dict[str, Any]:
    """Segment, long/short-term topics, clusters, drift and history length of one user."""
    total = sum(c.mass for c in state.clusters) or 1.0
    recent = state.recent_items
    clusters = []
    for c in sorted(state.clusters, key=lambda c: -c.mass):
        words = topics(c.centroid, catalogue, 3, items=c.items)
        clusters.append({
            "label": c.label or ", ".join(words) or "unlabelled",
            "weight": round(float(c.mass / total), 4),
            "topics": words,
            "items": [catalogue.title(i) for i in c.items[-5:]],
        })
    return {
        "segment": segment,
        "history_length": int(n_events),
        "long_term_topics": topics(state.long_term, catalogue, items=recent),
        "short_term_topics": topics(state.short_term, catalogue, items=recent),
        "clusters": clusters,
        "drift": round(float(state.drift), 6),
        "last_event_at": int(state.clock) if state.clock is not None else None,
        "recent_items": [catalogue.title(i) for i in state.recent_items[-10:]][::-1],
    }


class Projection:
    """The catalogue's first two principal directions, cached per catalogue version."""

    def __init__(self) -> None:
        self._key: tuple[int, int] | None = None
        self._mean = np.zeros(0)
        self._axes = np.zeros((2, 0))

    def axes(self, catalogue: Catalogue) -> tuple[np.ndarray, np.ndarray]:
        key = (catalogue.seq, len(catalogue))
        if self._key != key:
            x = catalogue.vectors[catalogue.has_vector]
            if len(x) >= 2:
                mean = x.mean(axis=0)
                _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
                axes = vt[:2]
            else:
                mean, axes = np.zeros(catalogue.dim), np.eye(2, catalogue.dim)
            self._key, self._mean, self._axes = key, mean, axes
        return self._mean, self._axes


def interest_history(events: list[StoredEvent], user_key: str, catalogue: Catalogue,
                     projection: Projection) -> list[dict[str, Any]]:
    """One point per event: drift and 2-D positions of short- and long-term interest."""
    state = new_state(user_key, catalogue.dim)
    mean, axes = projection.axes(catalogue)
    points = []
    for ev in events:
        apply_events(state, [ev], catalogue)
        short, long_ = state.short_term, state.long_term
        sx, sy = (axes @ (short - mean)).tolist() if short.any() else (None, None)
        lx, ly = (axes @ (long_ - mean)).tolist() if long_.any() else (None, None)
        points.append({
            "timestamp": int(ev.timestamp), "item_id": ev.item_id, "event_type": ev.event_type,
            "drift": round(float(state.drift), 6),
            "short_term": {"x": sx, "y": sy}, "long_term": {"x": lx, "y": ly},
            "short_term_topic": (topics(short, catalogue, 1, items=state.recent_items)
                                 or [None])[0],
        })
    return points
