"""Interest clusters: k chosen by silhouette, deterministic with a seed, readable labels."""

from __future__ import annotations

import numpy as np
import pytest

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


_CASES = """
import json, sys
import numpy as np
from driftrec.interest.clusters import choose_clusters

rng = np.random.default_rng(11)
out = []
for _ in range(12):
    n = int(rng.integers(4, 30))
    x = rng.normal(size=(n, 6)) + 2.0 * rng.normal(size=(3, 6))[rng.integers(0, 3, n)]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    _, labels, s = choose_clusters(x, rng.uniform(0.5, 2.0, n), min_silhouette=-1.0)
    out.append([labels.tolist(), s])
json.dump(out, sys.stdout)
"""


def test_the_compiled_kmeans_computes_what_its_python_source_says() -> None:
    """numba compiles the k-means; its source run as plain Python (numba's
    ``NUMBA_DISABLE_JIT``) is the reference."""
    import json
    import os
    import subprocess
    import sys

    def run(**env: str) -> list:
        done = subprocess.run([sys.executable, "-c", _CASES], capture_output=True,
                              text=True, check=True, env={**os.environ, **env})
        return json.loads(done.stdout)

    compiled, python = run(), run(NUMBA_DISABLE_JIT="1")
    assert [c[0] for c in compiled] == [p[0] for p in python]
    assert [c[1] for c in compiled] == pytest.approx([p[1] for p in python], abs=1e-12)
    assert {len(set(c[0])) for c in compiled} >= {2, 3}  # cases with different k


def test_each_run_seeds_from_its_own_stream() -> None:
    """Run r's draws are seed + r's stream, as drawing one ``rng.random()`` at a time."""
    from driftrec.interest.clusters import N_INIT, _draws

    for run in range(N_INIT):
        rng = np.random.default_rng(7 + run)
        np.testing.assert_array_equal(_draws(7, 4)[run], [rng.random() for _ in range(4)])


def test_warm_compiles_before_the_first_request() -> None:
    from driftrec.interest import clusters, kmeans

    clusters.warm()
    assert kmeans.best_labels.signatures  # compiled (or loaded from numba's cache)


def test_the_kernel_compiles_uncached_where_numba_can_write_no_cache(monkeypatch):
    """A read-only install run without a writable home: numba refuses ``cache=True`` at
    decoration; the function is compiled without a cache instead of failing the import."""
    from driftrec.interest import kmeans

    asked: list[bool] = []

    def njit(fn=None, *, cache: bool = False):
        """numba's njit as used there: ``njit(cache=True)(fn)`` or ``njit(fn)``."""
        asked.append(cache)
        if cache:
            raise RuntimeError("cannot cache function 'f': no locator available for file")
        return fn if fn is not None else (lambda f: f)

    monkeypatch.setattr(kmeans, "njit", njit)
    monkeypatch.setattr(kmeans, "_UNCACHED", [])
    assert kmeans.compiled(lambda: 7)() == 7
    assert asked == [True, False] and kmeans._UNCACHED == ["<lambda>"]
