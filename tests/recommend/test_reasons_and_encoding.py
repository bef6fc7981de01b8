"""Reasons in words, item text and the lexical hashing encoder."""

from __future__ import annotations

import numpy as np

from driftrec.recommend import reasons
from driftrec.recommend.encoding import HashingEncoder, from_bytes, item_text, to_bytes


def test_reasons_read_like_sentences():
    assert reasons.because_recent(["Alien", "Aliens"], "view") == \
        "because you recently watched Alien and Aliens"
    assert reasons.because_recent(["A", "B", "C"], "rating") == \
        "because you recently rated A, B and C"
    assert reasons.similar_to_interest("film-noir", new_item=True) == \
        "new item similar to your interest in film-noir"
    assert reasons.popular("space fans") == "popular in your segment (space fans)"
    assert reasons.matches_query("x" * 100).endswith('..."')


def test_item_text_joins_title_text_and_attributes():
    text = item_text("Heat", "A heist in LA.", {"genres": ["Crime", "Drama"], "year": 1995,
                                                "empty": ""})
    assert text == "Heat. A heist in LA.. Genres: Crime, Drama. Year: 1995"
    assert item_text("", "", {"genres": "Action|Comedy"}) == "Genres: Action, Comedy"


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
