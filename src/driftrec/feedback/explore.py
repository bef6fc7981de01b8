"""Exploration: one slot of a list for an item the service knows little about.

A list ranked only by what the model already believes never shows a new or rarely shown
item, so the feedback loop never learns about it. With ``explore_slots = 1`` (off by
default) the last slot of a list goes to an item from just below the list (the next
``explore_pool`` items of the user's own ranking, so the choice stays relevant) that has
been shown fewer than ``explore_max_impressions`` times, chosen by Thompson sampling:
each such item draws ``theta ~ Beta(1 + engaged, 1 + shown - engaged)`` from its labelled
impressions, and the highest draw wins. An item never shown draws from Beta(1, 1), so new
items get their chance, and items that were shown and ignored fade out.

The cost is measured by ``benchmarks/bench_feedback.py`` (prequential HR@10 with the slot
on, variant ``explore``, and off, ``online``); the slot is marked ``source = "explore"`` in
the response.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np


def thompson_pick(item_ids: Sequence[str], stats: Mapping[str, tuple[int, int]],
                  rng: np.random.Generator, max_impressions: int) -> int | None:
    """Index into ``item_ids`` of the item to explore, or None when none is eligible.

    ``stats`` maps an item id to ``(shown, engaged)`` counts of labelled impressions; an
    item absent from it was never shown.
    """
    shown = np.fromiter((stats.get(i, (0, 0))[0] for i in item_ids), dtype=np.float64,
                        count=len(item_ids))
    engaged = np.fromiter((stats.get(i, (0, 0))[1] for i in item_ids), dtype=np.float64,
                          count=len(item_ids))
    eligible = np.flatnonzero(shown < max_impressions)
    if not len(eligible):
        return None
    engaged = np.minimum(engaged, shown)
    draws = rng.beta(1.0 + engaged[eligible], 1.0 + shown[eligible] - engaged[eligible])
    return int(eligible[int(np.argmax(draws))])


class Explorer:
    """Chooses the explored items of a list from cached per-item feedback counts."""

    def __init__(self, counts: Callable[[], dict[str, tuple[int, int]]], *, slots: int,
                 pool: int, max_impressions: int, ttl_s: float = 10.0,
                 seed: int | None = None) -> None:
        self._counts = counts
        self.slots, self.pool, self.max_impressions = slots, pool, max_impressions
        self.ttl_s = ttl_s
        self._cached: tuple[float, dict[str, tuple[int, int]]] = (-np.inf, {})
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()

    def stats(self) -> dict[str, tuple[int, int]]:
        """``item_id -> (shown, engaged)``, re-read from the store every ``ttl_s``."""
        at, stats = self._cached
        if time.monotonic() - at > self.ttl_s:
            stats = self._counts()
            self._cached = (time.monotonic(), stats)
        return stats

    def choose(self, item_ids: Sequence[str], n: int) -> list[int]:
        """Up to ``n`` distinct indices into ``item_ids``, one Thompson draw each."""
        stats = self.stats()
        left = list(range(len(item_ids)))
        out: list[int] = []
        with self._lock:  # numpy generators are not thread-safe
            for _ in range(max(n, 0)):
                i = thompson_pick([item_ids[j] for j in left], stats, self._rng,
                                  self.max_impressions)
                if i is None:
                    break
                out.append(left.pop(i))
        return out
