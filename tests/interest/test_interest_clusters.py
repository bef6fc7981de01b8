"""Interest clusters: k chosen by silhouette, deterministic with a seed, readable labels."""

from __future__ import annotations

import numpy as np

from driftrec.interest import Event, new_state, update
from driftrec.interest.clusters import choose_clusters, recluster


def _three_blobs(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 32))
    x = np.repeat(centres, 20, axis=0) + 0.25 * rng.normal(size=(60, 32))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_k_is_chosen_by_the_data() -> None:
    cents, labels, score = choose_clusters(_three_blobs(), max_k=6)
    assert len(cents) == 3 and score > 0.5
    assert sorted(np.bincount(labels)) == [20, 20, 20]


def test_one_interest_when_there_is_no_structure() -> None:
    x = np.tile(np.eye(8)[0], (10, 1)) + 1e-3 * np.random.default_rng(0).normal(size=(10, 8))
    cents, _, _ = choose_clusters(x / np.linalg.norm(x, axis=1, keepdims=True))
    assert len(cents) == 1


def test_same_seed_same_clusters() -> None:
    x = np.random.default_rng(5).normal(size=(40, 16))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    a, b = choose_clusters(x, seed=3), choose_clusters(x, seed=3)
    np.testing.assert_array_equal(a[1], b[1])


def test_recluster_labels_each_interest() -> None:
    x = _three_blobs(1)
    s = new_state("u", 32)
    for j in range(60):
        update(s, Event("u", str(j), float(j), "purchase"), x[j])
    genre = {str(j): ["Horror", "Comedy", "Drama"][j // 20] for j in range(60)}
    recluster(s, lambda i: x[int(i)], labeler=lambda ids: genre[ids[0]], window=45)
    assert sorted(c.label for c in s.clusters) == ["Comedy", "Drama", "Horror"]
    assert sum(c.mass for c in s.clusters) == 45  # only the most recent 45 liked items
