"""Reasons in words, embedding keys and the lexical hashing encoder."""

from __future__ import annotations

import numpy as np

from driftrec.recommend import reasons
from driftrec.recommend.encoding import HashingEncoder, embedding_key, from_bytes, to_bytes


def test_reasons_read_like_sentences():
    assert reasons.because_recent(["Alien", "Aliens"], "view") == \
        "because you recently watched Alien and Aliens"
    assert reasons.because_recent(["A", "B", "C"], "rating") == \
        "because you recently rated A, B and C"
    assert reasons.similar_to_interest("film-noir", new_item=True) == \
        "new item similar to your interest in film-noir"
    assert reasons.popular("space fans") == "popular in your segment (space fans)"
    assert reasons.matches_query("x" * 100).endswith('..."')


def test_the_embedding_key_names_the_encoder_and_the_text_rule():
    key = embedding_key("minilm")
    assert key.startswith("minilm#") and key == embedding_key("minilm", None)
    assert embedding_key("minilm", "{title}") != key
    assert embedding_key("hashing") != key


def test_hashing_encoder_gives_unit_vectors_that_match_shared_words():
    enc = HashingEncoder()
    a, b, c = enc.encode(["space rocket moon", "rocket to the moon", "a quiet wedding"])
    assert np.isclose(np.linalg.norm(a), 1.0)
    assert a @ b > a @ c
    assert enc.encode([]).shape == (0, enc.dim)


def test_vectors_round_trip_through_bytes():
    v = np.arange(4, dtype=np.float32)
    assert np.array_equal(from_bytes(to_bytes(v), 4), v)
    assert from_bytes(to_bytes(v), 5) is None and from_bytes(None, 4) is None
