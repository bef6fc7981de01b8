"""Metrics against hand-computed examples, plus properties that must hold for any input."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from driftrec.evaluation import metrics as m


def test_single_target_at_rank_three() -> None:
    hits = np.array([[False, False, True, False, False]])
    out = m.rank_metrics(hits, np.array([1]), k=5)
    assert out["HR"][0] == 1.0 and out["Recall"][0] == 1.0
    assert math.isclose(out["NDCG"][0], 1 / math.log2(4))
    assert math.isclose(out["MRR"][0], 1 / 3)
    assert math.isclose(out["Precision"][0], 1 / 5)
    assert math.isclose(out["F1"][0], 2 * 0.2 * 1.0 / 1.2)
    # Outside the cut-off: nothing counts.
    out2 = m.rank_metrics(hits, np.array([1]), k=2)
    assert out2["HR"][0] == out2["NDCG"][0] == out2["MRR"][0] == 0.0


def test_two_targets_hand_computed() -> None:
    # Targets at positions 0 and 3 of a top-4 list, 3 targets in total.
    hits = np.array([[True, False, False, True]])
    out = m.rank_metrics(hits, np.array([3]), k=4)
    dcg = 1 / math.log2(2) + 1 / math.log2(5)
    idcg = 1 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert math.isclose(out["NDCG"][0], dcg / idcg)
    assert math.isclose(out["Recall"][0], 2 / 3)
    assert math.isclose(out["Precision"][0], 2 / 4)
    assert out["MRR"][0] == 1.0


def test_top_k_breaks_ties_by_item_index() -> None:
    scores = np.array([[1.0, 3.0, 3.0, 0.0, 3.0]])
    assert m.top_k(scores, 3).tolist() == [[1, 2, 4]]


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 6), st.integers(1, 120), st.integers(0, 125), st.integers(0, 4),
       st.integers(0, 2**31 - 1))
def test_top_k_is_the_head_of_a_stable_sort(users, items, k, kind, seed) -> None:
    """The partitioned top-k equals the first k of a stable sort for any scores: heavy
    ties at the k-th score, seen items at -inf, NaN."""
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 4 if kind == 1 else 1000, (users, items)).astype(np.float32)
    if kind == 2:
        scores[rng.random(scores.shape) < 0.6] = -np.inf
    elif kind == 3:
        scores[rng.random(scores.shape) < 0.3] = np.nan
    elif kind == 4:
        scores = rng.standard_normal((users, items))
    expected = np.argsort(-scores, axis=1, kind="stable")[:, :min(k, items)]
    assert np.array_equal(m.top_k(scores, k), expected)


def test_coverage_diversity_novelty() -> None:
    lists = np.array([[0, 1], [1, 2]])
    assert m.coverage(lists, 4) == 0.75
    vecs = np.eye(3, dtype=np.float32)  # orthogonal: every pair is maximally different
    assert np.allclose(m.intra_list_diversity(lists, vecs), 1.0)
    same = np.ones((3, 2), dtype=np.float32) / np.sqrt(2)
    assert np.allclose(m.intra_list_diversity(lists, same), 0.0)
    counts = np.array([3.0, 1.0, 0.0])
    expected = -np.log2((np.array([3.0, 1.0]) + 1) / 4).mean()
    assert math.isclose(m.novelty(lists[:1], counts, 3)[0], expected)


hit_rows = st.lists(st.booleans(), min_size=1, max_size=30)


@given(rows=st.lists(hit_rows, min_size=1, max_size=8), extra=st.integers(0, 5),
       k=st.integers(1, 30))
@settings(max_examples=200, deadline=None)
def test_metric_properties(rows: list[list[bool]], extra: int, k: int) -> None:
    width = max(len(r) for r in rows)
    hits = np.array([r + [False] * (width - len(r)) for r in rows])
    # Every user has at least as many targets as hits in their list.
    n_targets = hits.sum(axis=1) + extra
    out = m.rank_metrics(hits, n_targets, k=k)
    for name, values in out.items():
        assert np.all(values >= 0) and np.all(values <= 1 + 1e-12), name
    assert np.all(out["Recall"] <= out["HR"])
    assert np.all(out["MRR"] <= out["HR"])
    assert np.all((out["HR"] == 0) == (out["NDCG"] == 0))
    # Larger cut-offs never lower hit rate or recall.
    bigger = m.rank_metrics(hits, n_targets, k=k + 5)
    assert np.all(bigger["HR"] >= out["HR"]) and np.all(bigger["Recall"] >= out["Recall"])


@given(st.integers(1, 50), st.integers(0, 49))
def test_single_target_ndcg_formula(k: int, position: int) -> None:
    hits = np.zeros((1, 50), dtype=bool)
    hits[0, position] = True
    out = m.rank_metrics(hits, np.array([1]), k=k)
    expected = 1 / math.log2(position + 2) if position < k else 0.0
    assert math.isclose(out["NDCG"][0], expected)
