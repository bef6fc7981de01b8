"""Embedding cache: the second encoding of the same texts never calls the model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from driftrec.data.dataset import Dataset
from driftrec.text.cache import EmbeddingCache, encode_texts
from driftrec.text.catalogue import embed_items


class CountingEncoder:
    """A deterministic toy encoder that counts the texts it is asked to encode."""

    name = "counting-test"
    dim = 8

    def __init__(self) -> None:
        self.calls: list[int] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls.append(len(texts))
        seeds = [sum(map(ord, t)) for t in texts]
        vecs = np.stack([np.random.default_rng(s).normal(size=self.dim) for s in seeds])
        return (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).astype(np.float32)


def test_cache_hit_skips_the_encoder(tmp_path) -> None:
    enc = CountingEncoder()
    first = encode_texts(["a", "b", "a"], enc, cache_dir=tmp_path, progress=False)
    assert enc.calls == [2]  # duplicates encoded once
    again = encode_texts(["b", "a"], CountingEncoder(), cache_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(again, first[[1, 0]])
    enc2 = CountingEncoder()
    encode_texts(["a", "c"], enc2, cache_dir=tmp_path, progress=False)
    assert enc2.calls == [1]  # only the new text
    assert len(EmbeddingCache("counting-test", tmp_path)) == 3


def test_interrupt_keeps_finished_batches(tmp_path) -> None:
    class Failing(CountingEncoder):
        def encode(self, texts):
            if len(self.calls) == 1:
                raise KeyboardInterrupt
            return super().encode(texts)

    with pytest.raises(KeyboardInterrupt):
        encode_texts([f"t{i}" for i in range(10)], Failing(), cache_dir=tmp_path,
                     batch_size=4, progress=False)
    assert len(EmbeddingCache("counting-test", tmp_path)) == 4


def test_embed_items_rows_follow_item_indices(tmp_path) -> None:
    events = pd.DataFrame({"user_id": ["u"], "item_id": ["2"], "timestamp": [1]})
    items = pd.DataFrame({"item_id": ["1", "2"], "title": ["Alien", "Babe"],
                          "year": [1979, 1995], "genres": ["Horror|Sci-Fi", "Comedy"]})
    ds = Dataset.from_frames(events, items)
    enc = CountingEncoder()
    vecs = embed_items(ds, encoder=enc, cache_dir=tmp_path, progress=False)
    assert vecs.shape == (2, 8) and vecs.dtype == np.float32
    expected = enc.encode(["Alien (1979). Genres: Horror, Sci-Fi"])[0]
    np.testing.assert_allclose(vecs[0], expected, atol=1e-6)
