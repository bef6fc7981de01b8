"""Reasons in words a person understands, built from the signals that ranked an item."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: How each event type reads in "because you recently ...".
VERBS = {"view": "watched", "click": "looked at", "purchase": "bought", "rating": "rated",
         "like": "liked", "cart": "added", "review": "reviewed", "search": "searched for"}


def _join(names: Sequence[str]) -> str:
    names = [f"{n}" for n in names]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def because_recent(titles: Sequence[str], event_type: str) -> str:
    verb = VERBS.get(event_type, "engaged with")
    return f"because you recently {verb} {_join(titles)}"


def similar_to_interest(topic: str, *, new_item: bool) -> str:
    prefix = "new item similar" if new_item else "similar"
    return f"{prefix} to your interest in {topic}"


def popular(segment: str | None = None) -> str:
    return f"popular in your segment ({segment})" if segment else "popular with other users"


def matches_query(query: str) -> str:
    short = query if len(query) <= 60 else query[:57] + "..."
    return f'matches your search "{short}"'


def closest(history_vectors: np.ndarray, item_vectors: np.ndarray, n: int = 2) -> np.ndarray:
    """Positions of the ``n`` history items most similar to each of ``item_vectors``
    (one row per item; the earlier history item first among equals)."""
    sims = np.atleast_2d(item_vectors) @ history_vectors.T
    return np.argsort(-sims, axis=1, kind="stable")[:, :n]
