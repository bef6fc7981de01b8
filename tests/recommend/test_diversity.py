"""MMR diversity re-ranking and the intra-list diversity measure."""

from __future__ import annotations

import numpy as np

from driftrec.recommend.diversity import intra_list_diversity, mmr


def unit(*rows):
    x = np.asarray(rows, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_zero_diversity_keeps_the_relevance_order():
    scores = np.array([0.2, 0.9, 0.5])
    assert mmr(scores, unit([1, 0], [1, 0], [0, 1]), 3, 0.0).tolist() == [1, 2, 0]


def test_diversity_prefers_an_item_unlike_those_already_picked():
    scores = np.array([1.0, 0.95, 0.6])
    vecs = unit([1, 0], [1, 0.01], [0, 1])  # items 0 and 1 are near duplicates
    assert mmr(scores, vecs, 2, 0.0).tolist() == [0, 1]
    assert mmr(scores, vecs, 2, 0.5).tolist() == [0, 2]


def test_k_larger_than_the_pool_returns_everything_once():
    out = mmr(np.array([0.3, 0.1]), unit([1, 0], [0, 1]), 5, 0.7)
    assert sorted(out.tolist()) == [0, 1]


def test_intra_list_diversity():
    assert intra_list_diversity(unit([1, 0], [1, 0])) == 0.0
    assert abs(intra_list_diversity(unit([1, 0], [0, 1])) - 1.0) < 1e-6
    assert intra_list_diversity(unit([1, 0])) == 0.0
