"""Exploration: Thompson sampling gives rarely shown items a slot, and stops when they fail."""

from __future__ import annotations

import numpy as np

from driftrec.feedback.explore import Explorer, thompson_pick


def test_a_never_shown_item_beats_one_shown_often_and_ignored() -> None:
    rng = np.random.default_rng(0)
    stats = {"ignored": (90, 0), "liked": (90, 45)}
    picks = [thompson_pick(["ignored", "new"], stats, rng, 100) for _ in range(200)]
    assert picks.count(1) > 190
    # An item that earns engagement keeps winning against one that does not.
    picks = [thompson_pick(["ignored", "liked"], stats, rng, 100) for _ in range(200)]
    assert picks.count(1) == 200


def test_items_shown_enough_are_no_longer_explored() -> None:
    rng = np.random.default_rng(1)
    assert thompson_pick(["a", "b"], {"a": (100, 3), "b": (250, 9)}, rng, 100) is None
    assert thompson_pick(["a", "b"], {"a": (100, 3)}, rng, 100) == 1


def test_explorer_picks_distinct_items_and_rereads_counts_after_the_ttl() -> None:
    reads = []

    def counts() -> dict[str, tuple[int, int]]:
        reads.append(1)
        return {}

    explorer = Explorer(counts, slots=2, pool=10, max_impressions=5, ttl_s=3600, seed=3)
    chosen = explorer.choose(["a", "b", "c"], 2)
    assert len(chosen) == 2 and len(set(chosen)) == 2
    explorer.choose(["a", "b", "c"], 3)
    assert len(reads) == 1  # cached within the ttl
    assert explorer.choose(["a"], 0) == []
