"""Fused model: weights are learned from held-out events and follow what the data rewards."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from driftrec.data.dataset import Dataset, Histories
from driftrec.models.base import Recommender
from driftrec.models.fusion import (
    SIGNALS,
    FusedRecommender,
    item_priors,
    log_softmax,
    place_untrained,
)
from driftrec.models.registry import create_model

N_ITEMS = 30
SEQ = dict(hidden=16, n_layers=1, n_heads=1, max_len=12, batch_size=16, lr=1e-2, warmup_steps=1,
           threads=1, valid_users=0, max_epochs=6)


def walk_dataset(shuffled: bool, n_users: int = 60, length: int = 12, seed: int = 0) -> Dataset:
    """Users step through the catalogue in order, or visit the same items in random order."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        start = int(rng.integers(N_ITEMS))
        items = [(start + t) % N_ITEMS for t in range(length)]
        if shuffled:
            items = rng.choice(N_ITEMS, size=length, replace=False).tolist()
        rows.extend((f"u{u}", f"i{i}", 1000 * t) for t, i in enumerate(items))
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    items = pd.DataFrame({"item_id": [f"i{i}" for i in range(N_ITEMS)]})
    return Dataset.from_frames(events, items)


def text(seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(N_ITEMS, 8)).astype(np.float32)


def fused(signals: list[str], **extra) -> FusedRecommender:
    model = create_model("fused", signals=signals, sequence=SEQ, holdout_users=60,
                         hard_negatives=5, random_negatives=5, **extra)
    return model


@pytest.fixture(scope="module")
def fitted() -> FusedRecommender:
    return fused(list(SIGNALS)).fit(walk_dataset(shuffled=False), item_embeddings=text())


def test_weights_are_learned_and_readable(fitted):
    w = fitted.weights()
    assert set(w) == {*SIGNALS, "bias"}
    assert all(np.isfinite(v) for v in w.values())
    assert any(abs(v) > 0.1 for k, v in w.items() if k != "bias")
    # In an ordered walk the sequence model knows the next item best.
    assert w["sequence"] == max(v for k, v in w.items() if k != "bias")


def test_weights_follow_the_data():
    ordered = fused(["sequence", "popularity"]).fit(walk_dataset(shuffled=False))
    random = fused(["sequence", "popularity"]).fit(walk_dataset(shuffled=True))
    assert ordered.weights()["sequence"] > random.weights()["sequence"] + 0.5


def test_fused_ranking_uses_the_sequence(fitted):
    scores = fitted.score(Histories.from_item_lists([[4, 5, 6, 7]]))
    assert scores.shape == (1, N_ITEMS)
    assert int(np.argmax(scores[0])) == 8


def test_signals_can_be_switched_off():
    model = fused(["popularity", "recency"]).fit(walk_dataset(shuffled=True))
    assert set(model.weights()) == {"popularity", "recency", "bias"}
    assert model.sequence is None and model.content is None
    with pytest.raises(ValueError, match="signals must be"):
        FusedRecommender(signals=["colour"])


def test_sequence_component_must_be_a_sequence_model():
    with pytest.raises(ValueError, match=r"sequence_model='ease'.*'sasrec-text' or 'sasrec'"):
        FusedRecommender(sequence_model="ease")


def test_save_load_and_new_items(fitted, tmp_path):
    fitted.save(tmp_path / "fused")
    loaded = Recommender.load(tmp_path / "fused")
    hist = Histories.from_item_lists([[1, 2, 3], [10, 11]])
    np.testing.assert_allclose(loaded.score(hist), fitted.score(hist), rtol=1e-4, atol=1e-4)
    assert loaded.weights() == pytest.approx(fitted.weights())
    loaded.add_items(["brand-new"], text()[[4]])
    scores = loaded.score(hist)
    assert scores.shape == (2, N_ITEMS + 1) and np.isfinite(scores).all()


def test_item_priors_and_log_softmax():
    ds = walk_dataset(shuffled=True)
    pop, rec = item_priors(ds)
    counts = np.bincount(ds.events["item_idx"], minlength=N_ITEMS)
    assert np.argmax(pop) == np.argmax(counts) and rec.max() == pytest.approx(0.0)
    lp = log_softmax(np.array([[1.0, 2.0, 3.0]]))
    assert np.exp(lp).sum() == pytest.approx(1.0, abs=1e-6)


def test_ablation_refits_weights_without_retraining(fitted):
    without_seq = fitted.with_signals([s for s in SIGNALS if s != "sequence"])
    assert "sequence" not in without_seq.weights()
    # the sequence model stays the candidate generator; only its signal is dropped
    assert without_seq.sequence is fitted.sequence and without_seq.content is fitted.content
    hist = Histories.from_item_lists([[4, 5, 6, 7]])
    feats = fitted.features(hist)
    np.testing.assert_allclose(without_seq.score_features(feats), without_seq.score(hist),
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="not in this model"):
        without_seq.with_signals(["sequence"])


def test_only_the_sequence_models_candidates_are_reordered():
    model = fused(list(SIGNALS), candidates=5).fit(walk_dataset(shuffled=False),
                                                   item_embeddings=text())
    hist = Histories.from_item_lists([[4, 5, 6, 7]])
    feats = model.features(hist)
    cands = np.flatnonzero(feats["_candidates"][0])
    assert len(cands) == 5 and not set(cands) & {4, 5, 6, 7}
    scores = model.score(hist)[0]
    others = np.setdiff1d(np.arange(N_ITEMS), cands)
    assert scores[cands].min() > scores[others].max()
    assert np.isfinite(scores).all()


def test_content_signals_of_candidates_match_the_whole_catalogue_computation():
    model = fused(list(SIGNALS), candidates=5).fit(walk_dataset(shuffled=True),
                                                   item_embeddings=text())
    model.add_items(["new"], text(seed=9)[:1])  # a cold item may be a candidate too
    hist = Histories.from_item_lists([[4, 5, 6, 7, 8, 9], [1, 2, 3, 10, 11, 12]])
    fast, full = model.features(hist), model.features(hist, all_items=True)
    cands = fast["_candidates"]
    assert (full["_candidates"] == cands).all()
    for name in ("long_term", "short_term", "cluster", "transfer"):
        np.testing.assert_allclose(fast[name][cands], full[name][cands], rtol=1e-6, atol=1e-7)
        assert not fast[name][:, ~cands.any(0)].any()  # nobody's candidate: not computed
    np.testing.assert_allclose(model.score_features(fast), model.score_features(full),
                               rtol=1e-6, atol=1e-4)


def test_items_outside_the_candidates_keep_the_sequence_models_order(fitted):
    hist = Histories.from_item_lists([[4, 5, 6, 7]])
    feats = fitted.features(hist)
    outside = np.flatnonzero(~feats["_candidates"][0])
    scores = fitted.score_features(feats)[0]
    sequence = feats["_sequence_order"][0]
    assert (np.argsort(-scores[outside], kind="stable")
            == np.argsort(-sequence[outside], kind="stable")).all()


def test_items_without_events_borrow_priors_from_their_text_neighbour():
    ds = walk_dataset(shuffled=True)
    ds = ds.with_events(ds.events[ds.events["item_idx"] != 0])  # item 0 is now cold
    vectors = text()
    vectors[0] = vectors[5] * 2.0  # same direction as item 5's text
    pop, rec = item_priors(ds, vectors)
    assert pop[0] == pytest.approx(pop[5]) and rec[0] == pytest.approx(rec[5])
    bare_pop, bare_rec = item_priors(ds)
    assert bare_pop[0] == 0.0 and bare_rec[0] == pytest.approx(bare_rec.min())


def test_new_items_take_the_priors_of_the_nearest_item_by_text(fitted, tmp_path):
    fitted.save(tmp_path / "fused")
    loaded = Recommender.load(tmp_path / "fused")
    loaded.add_items(["like-7"], text()[[7]] * 3.0)
    assert loaded.popularity[N_ITEMS] == pytest.approx(loaded.popularity[7])
    assert loaded.recency[N_ITEMS] == pytest.approx(loaded.recency[7])


def onboarding_dataset(n_users: int = 120, seed: int = 1) -> Dataset:
    """Every user's first three events are onboarding items (25-29, in random order), then
    they walk through the rest of the catalogue in order."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        first = rng.permutation([25, 26, 27, 28, 29])[:3].tolist()
        start = int(rng.integers(25))
        walk = [(start + t) % 25 for t in range(12)]
        rows.extend((f"u{u}", f"i{i}", 1000 * t) for t, i in enumerate(first + walk))
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    items = pd.DataFrame({"item_id": [f"i{i}" for i in range(N_ITEMS)]})
    return Dataset.from_frames(events, items)


@pytest.fixture(scope="module")
def early_fitted() -> FusedRecommender:
    return fused(list(SIGNALS), early_users=30, early_events=5, early_buckets=[0, 1, 3]).fit(
        onboarding_dataset(), item_embeddings=text())


def test_short_histories_get_their_own_weights_and_learn_the_onboarding(early_fitted):
    assert early_fitted.early is not None
    assert [b.lower for b in early_fitted.early.buckets] == [0, 1, 3]
    assert early_fitted.fit_info["early_steps"] == 30 * 5
    # A new user is shown the onboarding items first: what the first events were.
    top = np.argsort(-early_fitted.score(Histories.from_item_lists([[]]))[0])[:3]
    assert set(top) <= {25, 26, 27, 28, 29}
    # Histories of early_events or more use the main weights, exactly as without buckets.
    long = Histories.from_item_lists([[25, 26, 27, 3, 4, 5, 6]])
    main_only = early_fitted.with_signals(early_fitted.signals)
    main_only.coef, main_only.intercept = early_fitted.coef, early_fitted.intercept
    main_only.mean, main_only.scale = early_fitted.mean, early_fitted.scale
    np.testing.assert_allclose(early_fitted.score(long), main_only.score(long), rtol=1e-5)


def test_short_history_steps_are_kept_out_of_the_components_training():
    model = fused(list(SIGNALS), early_users=30, early_events=5)
    data = onboarding_dataset()
    inner, (histories, targets) = model._hold_out_prefixes(data, data.events.iloc[:0])
    users = np.unique(histories.users)
    assert len(users) == 30 and len(targets) == 30 * 5
    kept = inner.events[inner.events["user_idx"].isin(users)]
    # Each chosen user lost exactly their first five events, nothing else.
    assert (kept.groupby("user_idx").size() == 15 - 5).all()
    assert kept["timestamp"].min() == 5 * 1000


def test_short_history_weights_survive_save_and_load(early_fitted, tmp_path):
    early_fitted.save(tmp_path / "fused")
    loaded = Recommender.load(tmp_path / "fused")
    hist = Histories.from_item_lists([[], [25], [25, 26, 27], [25, 26, 27, 3, 4, 5]])
    np.testing.assert_allclose(loaded.score(hist), early_fitted.score(hist), rtol=1e-4,
                               atol=1e-4)
    loaded.add_items(["brand-new"], text()[[4]])
    assert np.isfinite(loaded.score(hist)).all()


def test_untrained_candidates_take_the_place_the_sequence_model_gives_them():
    """Items without training events keep the sequence model's rank among the trained
    candidates, which keep their fused order; several in one gap keep the sequence order."""
    fused_scores = np.array([3.0, 2.0, 1.0, 9.0, -9.0], dtype=np.float32)
    sequence = np.array([0.9, 0.5, 0.1, 0.3, 0.7], dtype=np.float32)
    untrained = np.array([False, False, False, True, True])
    out = place_untrained(fused_scores, sequence, untrained)
    assert np.argsort(-out).tolist() == [0, 4, 1, 3, 2]
    np.testing.assert_array_equal(out[:3], fused_scores[:3])

    out = place_untrained(np.array([1.0, 0.0, 5.0, 5.0, 5.0], dtype=np.float32),
                          np.array([0.5, 0.4, 0.9, 0.8, 0.1], dtype=np.float32),
                          np.array([False, False, True, True, True]))
    assert np.argsort(-out).tolist() == [2, 3, 0, 1, 4]  # above all, above all, below all

    alone = np.array([2.0, 1.0], dtype=np.float32)
    assert place_untrained(alone, np.array([0.0, 1.0]), np.zeros(2, bool)) is alone


def test_items_without_training_events_are_placed_by_the_sequence_model(tmp_path):
    events = walk_dataset(shuffled=False).events
    cold = {"i3", "i17"}
    ds = walk_dataset(shuffled=False)
    ds = ds.with_events(events[~events["item_id"].isin(cold)])
    model = fused(list(SIGNALS)).fit(ds, item_embeddings=text())
    assert {ds.item_ids[i] for i in np.flatnonzero(model.untrained)} == cold
    history = Histories.from_item_lists([[10, 11, 12, 13]])
    feats = model.features(history)
    placed = model.score_features(feats)[0]
    cands = np.flatnonzero(feats["_candidates"][0])
    seq = feats["_sequence_order"][0]
    trained = [c for c in cands if not model.untrained[c]]
    for c in cands[model.untrained[cands]]:  # as many trained items above it as in sequence
        assert sum(placed[t] > placed[c] for t in trained) == \
            sum(seq[t] > seq[c] for t in trained)

    off = copy.copy(model)  # the same training, the fusion's own order
    off.settings = model.settings.model_copy(update={"place_untrained": False})
    plain = off.score_features(feats)[0]
    np.testing.assert_array_equal(placed[trained], plain[trained])

    model.save(tmp_path / "m")
    loaded = Recommender.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.untrained, model.untrained)
    np.testing.assert_allclose(loaded.score(history), model.score(history), rtol=1e-5)
