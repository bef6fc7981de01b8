"""Segments: k chosen by silhouette, same seed same segments; profiles are plain JSON."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from driftrec.interest import Event, new_state, update
from driftrec.interest.clusters import recluster
from driftrec.interest.profiles import ItemLabeler, Profiler
from driftrec.interest.segments import Segmentation, segment_users


def _users(seed: int = 0) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.eye(24)[:4] * 3
    vecs = np.repeat(centres, 25, axis=0) + rng.normal(size=(100, 24)) * 0.4
    vecs[7] = 0.0  # a user with no interest yet
    return [f"u{i}" for i in range(100)], vecs


def test_k_is_chosen_by_silhouette_and_reported() -> None:
    ids, vecs = _users()
    seg = segment_users(ids, vecs, k_values=(2, 3, 4, 5, 6), seed=0)
    assert seg.k == 4
    assert seg.silhouette == max(seg.silhouette_by_k.values())
    assert set(seg.silhouette_by_k) == {2, 3, 4, 5, 6}
    assert seg.segment_of("u7") == -1 and seg.segment_of("nobody") == -1
    assert sorted(seg.sizes()) == [24, 25, 25, 25]


def test_same_seed_same_segments() -> None:
    ids, vecs = _users(1)
    a = segment_users(ids, vecs, k_values=(3, 4, 5), seed=42)
    b = segment_users(ids, vecs, k_values=(3, 4, 5), seed=42)
    assert a.to_dict() == b.to_dict()
    back = Segmentation.from_dict(json.loads(json.dumps(a.to_dict())))
    np.testing.assert_array_equal(back.assign(vecs), a.assign(vecs))


def test_too_few_users_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="smallest k"):
        segment_users(["a", "b"], np.eye(2), k_values=(3,))


@pytest.fixture
def catalogue() -> tuple[pd.DataFrame, np.ndarray]:
    items = pd.DataFrame({
        "item_id": ["1", "2", "3", "4"],
        "title": ["Alien", "Aliens", "Babe", "Toy Story"],
        "genres": ["Horror|Sci-Fi", "Action|Sci-Fi", "Children's|Comedy",
                   "Animation|Children's|Comedy"],
    })
    vecs = np.array([[1, 0.1, 0], [0.9, 0.2, 0], [0, 0.1, 1], [0, 0.2, 0.9]])
    return items, vecs


def test_labeler_prefers_genres_then_words(catalogue) -> None:
    items, _ = catalogue
    assert ItemLabeler(items)(["1", "2"]).startswith("Sci-Fi")
    no_genres = ItemLabeler(items.drop(columns="genres"))
    assert no_genres(["1", "2"]) in {"alien, aliens", "aliens, alien"}


def test_user_profile_is_plain_json(catalogue) -> None:
    items, vecs = catalogue
    ids, users = [f"u{i}" for i in range(6)], np.repeat(vecs[[0, 2]], 3, axis=0)
    seg = segment_users(ids, users + 0.01 * np.arange(6)[:, None], k_values=(2,), seed=0)
    s = new_state("u0", 3)
    for t, item in enumerate(["1", "2", "3", "4", "1", "2"]):
        update(s, Event("u0", item, float(t * 86_400 * 30), "purchase"), vecs[int(item) - 1])
    recluster(s, lambda i: vecs[int(i) - 1], labeler=ItemLabeler(items))
    prof = Profiler(items, vecs, seg, n_items=2)
    p = json.loads(json.dumps(prof.user(s)))
    assert p["segment"] in (0, 1) and p["n_events"] == 6
    assert {c["label"] for c in p["clusters"]} == {"Sci-Fi, Action, Horror",
                                                   "Children's, Comedy, Animation"}
    assert p["short_term"]["items"][0]["title"] in {"Alien", "Aliens"}
    segs = json.loads(json.dumps(prof.segments()))
    assert segs["k"] == 2 and sum(x["users"] for x in segs["segments"]) == 6
