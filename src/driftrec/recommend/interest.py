"""Glue between stored events and :mod:`driftrec.interest`'s per-user state.

The state is keyed by the pseudonymous user key (never the raw id) and stored as the plain
dict :meth:`InterestState.to_dict` gives. Items the catalogue has no vector for still count
in the model's history but cannot move the text-space interest, unless the event has text.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from driftrec.interest.config import InterestConfig
from driftrec.interest.state import Event, InterestState, new_state, update
from driftrec.recommend.served_items import Catalogue
from driftrec.store import StoredEvent

log = logging.getLogger(__name__)


#: How the interest state's vectors are stored (the store writes numpy arrays as raw bytes).
#: float64, as they are computed: a stored state reads back bit for bit, so a user's state
#: is the same whether their events came one per request or in one bulk import (float32
#: would halve the write but round the sums once per write).
STORED_VECTOR_DTYPE = np.float64


def load_state(data: Mapping[str, Any] | None, user_key: str, dim: int) -> InterestState:
    """The stored state, or a fresh one when there is none or it has another dimension."""
    if data and int(data.get("dim", -1)) == dim:
        return InterestState.from_dict(dict(data))
    return new_state(user_key, dim)


def apply_events(
    state: InterestState,
    events: Iterable[StoredEvent],
    catalogue: Catalogue,
    text_vectors: Mapping[str, np.ndarray] | None = None,
    config: InterestConfig | None = None,
) -> int:
    """Apply events in order; returns how many moved the state."""
    moved = 0
    text_vectors = text_vectors or {}
    for ev in events:
        item_vec = catalogue.vector(ev.item_id)
        text_vec = text_vectors.get(ev.text) if ev.text else None
        if item_vec is None and text_vec is None:
            continue
        event = Event(user_id=state.user_id, item_id=ev.item_id, timestamp=float(ev.timestamp),
                      event_type=ev.event_type, value=ev.value, text=ev.text)
        moved += bool(update(state, event, item_vec, text_vec, config))
    return moved


def interest_vector(state: InterestState) -> np.ndarray | None:
    """What the user is into right now: short- and long-term interest, equally weighted."""
    v = state.short_term + state.long_term
    n = float(np.linalg.norm(v))
    return (v / n).astype(np.float32) if n > 0 else None


class InterestUpdater:
    """A :data:`StateUpdater`: moves a user's stored interest state by new events with
    ``config``. With ``keep`` it keeps the state it returned for each user (``states``, for
    the in-memory contexts after a commit); a bulk import, which writes a million users
    through one updater, keeps nothing."""

    def __init__(self, catalogue: Catalogue, text_vectors: Mapping[str, np.ndarray],
                 config: InterestConfig, *, keep: bool = True) -> None:
        self.catalogue = catalogue
        self.text_vectors = text_vectors
        self.config = config
        self.keep = keep
        self.states: dict[str, InterestState] = {}

    def __call__(self, user_key: str, data: dict | None, new: list[StoredEvent]) -> dict:
        state = load_state(data, user_key, self.catalogue.dim)
        apply_events(state, new, self.catalogue, self.text_vectors, self.config)
        if self.keep:
            self.states[user_key] = state  # not changed after this: what is stored
        return state.to_dict(arrays=STORED_VECTOR_DTYPE)
