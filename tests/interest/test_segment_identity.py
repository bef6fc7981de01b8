"""Segments keep their ids across refits, place new users online, follow the population,
and k is chosen by silhouette among stable k; profiles say what sets a segment apart."""

from __future__ import annotations

import numpy as np

from driftrec.interest.profiles import segment_profiles
from driftrec.interest.segments import (
    Segmentation,
    choose_k,
    match_ids,
    segment_users,
)


def clustered(n_clusters: int = 5, per: int = 60, dim: int = 32, seed: int = 0,
              noise: float = 0.25) -> tuple[list[str], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, dim))
    truth = np.repeat(np.arange(n_clusters), per)
    vecs = centres[truth] + rng.normal(size=(len(truth), dim)) * noise
    return [f"u{i}" for i in range(len(truth))], vecs, truth


def test_k_selection_finds_a_clear_cluster_structure() -> None:
    ids, vecs, truth = clustered()
    seg = segment_users(ids, vecs, k_values=range(2, 9), seed=0, dims=8)
    assert seg.k == 5
    crit = seg.criteria[5]
    assert crit["bootstrap_ari"] >= 0.8 and crit["seed_ari"] >= 0.8
    assert crit["silhouette"] >= 0.25
    from sklearn.metrics import adjusted_rand_score
    assert adjusted_rand_score(truth, seg.labels) > 0.95


def test_choose_k_prefers_stable_k() -> None:
    criteria = {2: {"silhouette": 0.30, "bootstrap_ari": 0.95},
                3: {"silhouette": 0.40, "bootstrap_ari": 0.50},  # best, but unstable
                4: {"silhouette": 0.35, "bootstrap_ari": 0.90}}
    assert choose_k(criteria) == 4
    assert choose_k({k: {**c, "bootstrap_ari": 0.1} for k, c in criteria.items()}) == 3


def test_a_refit_keeps_the_ids_of_the_segments_it_matches() -> None:
    ids, vecs, _ = clustered(4, seed=1)
    first = segment_users(ids, vecs, k_values=[4], seed=0)
    # another seed numbers the clusters differently; matching gives back the old ids
    plain = segment_users(ids, vecs, k_values=[4], seed=7)
    again = segment_users(ids, vecs, k_values=[4], seed=7, previous=first)
    np.testing.assert_array_equal(again.labels, first.labels)
    assert sorted(again.ids.tolist()) == sorted(first.ids.tolist())
    assert set(plain.labels.tolist()) == set(first.labels.tolist())


def test_permuted_centroids_keep_their_ids() -> None:
    ids, vecs, _ = clustered(4, seed=2)
    seg = segment_users(ids, vecs, k_values=[4], seed=0, dims=None)
    perm = np.array([2, 0, 3, 1])
    np.testing.assert_array_equal(match_ids(seg, seg.interest_centroids[perm]), seg.ids[perm])
    # a centroid like none before gets a fresh id; the others keep theirs
    odd = np.vstack([seg.interest_centroids[perm[:3]], -seg.interest_centroids.mean(0)])
    got = match_ids(seg, odd)
    np.testing.assert_array_equal(got[:3], seg.ids[perm[:3]])
    assert got[3] == seg.ids.max() + 1
    # an id retired earlier is never reused
    assert match_ids(seg, odd, next_id=9)[3] == 9


def test_fewer_segments_after_a_refit_keep_matched_ids() -> None:
    ids, vecs, _ = clustered(4, seed=3)
    four = segment_users(ids, vecs, k_values=[4], seed=0)
    three = segment_users(ids[:180], vecs[:180], k_values=[3], seed=0, previous=four)
    assert set(three.ids.tolist()) < set(four.ids.tolist())
    for sid in three.ids:
        a = set(np.flatnonzero(three.labels == sid))
        b = set(np.flatnonzero(four.labels[:180] == sid))
        assert len(a & b) / len(a | b) > 0.9


def test_online_assignment_and_following_the_population() -> None:
    ids, vecs, truth = clustered(3, seed=4)
    seg = segment_users(ids, vecs, k_values=[3], seed=0)
    # a new user near cluster members is placed in their segment; no interest: -1
    member_seg = seg.labels[truth == 1][0]
    newcomer = vecs[truth == 1].mean(0) + 0.01
    assert seg.assign(np.vstack([newcomer, np.zeros(vecs.shape[1])])).tolist() == \
        [member_seg, -1]
    # the population of one segment moves: its centroid follows, ids and k stay
    moved = vecs.copy()
    shift = np.random.default_rng(0).normal(size=vecs.shape[1]) * 0.5
    moved[truth == 1] += shift
    row = seg.row(int(member_seg))
    followed = seg.follow(moved, rate=1.0)
    assert followed.ids.tolist() == seg.ids.tolist() and followed.k == seg.k
    target = moved[truth == 1] / np.linalg.norm(moved[truth == 1], axis=1, keepdims=True)
    target = target.mean(0) / np.linalg.norm(target.mean(0))
    assert followed.interest_centroids[row] @ target > seg.interest_centroids[row] @ target
    assert followed.interest_centroids[row] @ target > 0.99
    np.testing.assert_array_equal(followed.labels, seg.labels)
    back = Segmentation.from_dict(followed.to_dict())
    np.testing.assert_array_equal(back.assign(moved), followed.assign(moved))


def test_profiles_name_what_sets_a_segment_apart() -> None:
    ids, vecs, truth = clustered(2, per=20, dim=6, seed=5)
    seg = segment_users(ids, vecs, k_values=[2], seed=0, dims=None)
    space = ["a1", "a2", "a3"]  # Sci-Fi titles with "star"
    love = ["b1", "b2", "b3"]  # Romance titles with "love"
    common = ["c1"]  # everybody's: Drama
    topics = {"a1": ["Sci-Fi", "Drama"], "a2": ["Sci-Fi"], "a3": ["Sci-Fi", "Action"],
              "b1": ["Romance", "Drama"], "b2": ["Romance"], "b3": ["Romance", "Comedy"],
              "c1": ["Drama"]}
    titles = {"a1": "Star Voyage", "a2": "Star Quest", "a3": "Dark Star",
              "b1": "Love Story", "b2": "Summer Love", "b3": "Love Actually", "c1": "Drama"}
    items = [(space if t == 0 else love) + common for t in truth]
    item_vecs = {i: np.eye(6)[j % 6] for j, i in enumerate(titles)}
    drift = np.linspace(0, 0.5, len(ids))
    profiles = segment_profiles(seg, items, topics=topics, titles=titles,
                                item_vectors=item_vecs, drift=drift, min_events=1)
    by_truth = {int(seg.labels[truth == t][0]): t for t in (0, 1)}
    for p in profiles:
        want, word = ("Sci-Fi", "star") if by_truth[p["id"]] == 0 else ("Romance", "love")
        assert p["genres"][0]["term"] == want and p["genres"][0]["lift"] > 1.5
        assert "Drama" not in [g["term"] for g in p["genres"]]  # shared by all: no lift
        assert p["title_words"][0]["term"] == word
        assert p["users"] == 20 and p["share"] == 0.5
        assert p["label"].startswith(want)
        assert p["exemplars"] and p["drift"]["median"] >= 0
        assert {e["item_id"] for e in p["exemplars"]} <= set(items[list(truth).index(
            by_truth[p["id"]])])
