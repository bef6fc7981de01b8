"""Candidate retrieval indexes: exact below the threshold, approximate above, same answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from driftrec.recommend import ann


def _vectors(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, dim))
    x = centres[rng.integers(0, 20, n)] + 0.3 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _brute(x: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-(q @ x.T), axis=1, kind="stable")[:, :k]


def test_exact_index_matches_brute_force_and_pads() -> None:
    x, q = _vectors(500), _vectors(7, seed=1)
    index = ann.ExactIndex(16)
    index.add(x[:200])
    index.add(x[200:])  # incremental
    labels, scores = index.search(q, 10)
    np.testing.assert_array_equal(labels, _brute(x, q, 10))
    assert np.all(np.diff(scores, axis=1) <= 0)
    small = ann.ExactIndex(16)
    small.add(x[:3], labels=np.array([7, 8, 9]))
    labels, scores = small.search(q[0], 5)
    assert sorted(labels[0, :3].tolist()) == [7, 8, 9]
    assert labels[0, 3:].tolist() == [-1, -1] and np.isneginf(scores[0, 3:]).all()
    with pytest.raises(ValueError, match="dimension 16"):
        index.search(np.zeros((1, 8)), 3)


@pytest.mark.parametrize("method", ["hnsw", "ivf"])
def test_faiss_indexes_recall_labels_and_round_trip(method: str, tmp_path: Path) -> None:
    pytest.importorskip("faiss")
    x, q = _vectors(3_000), _vectors(50, seed=2)
    labels_in = np.arange(3_000) + 1_000  # the caller's item indices
    index = ann.make_ann_index(16, "faiss", method)
    index.add(x[:2_000], labels_in[:2_000])
    index.add(x[2_000:], labels_in[2_000:])
    assert len(index) == 3_000
    labels, scores = index.search(q, 20)
    truth = _brute(x, q, 20) + 1_000
    recall = np.mean([len(np.intersect1d(a, b)) / 20 for a, b in zip(labels, truth,
                                                                      strict=True)])
    assert recall > 0.9
    np.testing.assert_allclose(scores[:, 0], (q * x[labels[:, 0] - 1_000]).sum(axis=1),
                               rtol=1e-4, atol=1e-5)
    loaded = ann.load_index(index.save(tmp_path / method))
    assert loaded.kind == index.kind and len(loaded) == 3_000
    np.testing.assert_array_equal(loaded.search(q, 20)[0], labels)


def test_item_index_switches_to_ann_at_the_threshold(tmp_path: Path) -> None:
    pytest.importorskip("faiss")
    x, q = _vectors(1_200), _vectors(5, seed=3)
    index = ann.ItemIndex(16, threshold=1_000)
    index.add(x[:600])
    assert index.kind == "exact"
    exact_labels, _ = index.search(q, 10)
    np.testing.assert_array_equal(exact_labels, _brute(x[:600], q, 10))
    index.add(x[600:])          # reaches the threshold: moved into the ANN index
    assert index.kind == "faiss-ivf" and len(index) == 1_200
    index.add(x[:1], labels=np.array([5_000]))  # items keep arriving
    labels, _ = index.search(x[:1], 2)
    assert set(labels[0].tolist()) == {0, 5_000}
    loaded = ann.load_index(index.save(tmp_path / "items"))
    assert isinstance(loaded, ann.ItemIndex) and loaded.threshold == 1_000
    assert loaded.kind == "faiss-ivf" and len(loaded) == 1_201


def test_item_index_stays_exact_without_an_ann_library(monkeypatch, caplog) -> None:
    monkeypatch.setattr(ann, "ann_backend", lambda: None)
    index = ann.build_index(_vectors(50), threshold=10)
    assert index.kind == "exact" and len(index) == 50
    assert "stays exact" in caplog.text


def test_hnswlib_fallback_when_installed(tmp_path: Path) -> None:
    pytest.importorskip("hnswlib")
    x, q = _vectors(1_000), _vectors(10, seed=4)
    index = ann.make_ann_index(16, "hnswlib")
    index.add(x)
    labels, _ = index.search(q, 10)
    assert np.mean([len(np.intersect1d(a, b)) / 10 for a, b in
                    zip(labels, _brute(x, q, 10), strict=True)]) > 0.9
    loaded = ann.load_index(index.save(tmp_path / "h"))
    np.testing.assert_array_equal(loaded.search(q, 10)[0], labels)
