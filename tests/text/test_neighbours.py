"""Cold items borrow from their nearest warm items in text space."""

from __future__ import annotations

import numpy as np
import pytest

from driftrec.text.neighbours import cold_item_proxy


def unit(rows: list[list[float]]) -> np.ndarray:
    x = np.asarray(rows, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_warm_items_keep_their_values_and_cold_ones_copy_the_nearest():
    vectors = unit([[1, 0], [0, 1], [0.9, 0.1], [0.1, 0.9]])
    warm = np.array([True, True, False, False])
    values = np.array([10.0, 20.0, 0.0, 0.0])
    np.testing.assert_allclose(cold_item_proxy(vectors, warm, k=1) @ values,
                               [10.0, 20.0, 10.0, 20.0], rtol=1e-5)


def test_several_neighbours_give_a_cosine_weighted_mean():
    vectors = unit([[1, 0], [0, 1], [1, 1]])
    out = cold_item_proxy(vectors, np.array([True, True, False]), k=2) @ np.array([4.0, 8.0, 0])
    assert out[2] == pytest.approx(6.0, rel=1e-4)


def test_without_warm_items_cold_rows_stay_empty_and_bad_shapes_are_named():
    vectors = unit([[1, 0], [0, 1]])
    assert (cold_item_proxy(vectors, np.array([False, False]), k=1) @ np.ones(2)).sum() == 0
    with pytest.raises(ValueError, match="item_vectors has 2 rows for 3 items"):
        cold_item_proxy(vectors, np.array([True, False, True]), k=1)
