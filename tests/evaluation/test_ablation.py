"""Fused variants scored from features computed once give the fused model's own scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from driftrec.data.dataset import Dataset, Histories
from driftrec.evaluation.ablation import PrecomputedFeatures, fused_features
from driftrec.models.registry import create_model

N_ITEMS = 20


def walks(n_users: int = 40, length: int = 10) -> Dataset:
    rng = np.random.default_rng(0)
    rows = []
    for u in range(n_users):
        start = int(rng.integers(N_ITEMS))
        rows.extend((f"u{u}", f"i{(start + t) % N_ITEMS}", 100 * t) for t in range(length))
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    return Dataset.from_frames(events, pd.DataFrame({"item_id": [f"i{i}"
                                                                for i in range(N_ITEMS)]}))


def test_precomputed_features_score_like_the_model() -> None:
    dataset = walks()
    model = create_model(
        "fused", signals=["sequence", "popularity", "recency"], sequence_model="sasrec",
        sequence=dict(hidden=8, n_layers=1, n_heads=1, max_len=8, batch_size=16,
                      max_epochs=2, warmup_steps=1, threads=1, valid_users=0),
        holdout_users=30, hard_negatives=5, random_negatives=5)
    model.fit(dataset)
    histories = Histories.from_events(dataset.events, np.arange(dataset.n_users)[::-1])
    feats = fused_features(model, histories, batch=7)
    scorer = PrecomputedFeatures(model, feats, histories.users)
    some = histories.subset(np.array([3, 0, 11]))
    np.testing.assert_allclose(scorer.score(some), model.score(some), rtol=1e-6, atol=1e-5)
    ablation = model.with_signals(["sequence", "popularity"])
    np.testing.assert_allclose(PrecomputedFeatures(ablation, feats, histories.users).score(some),
                               ablation.score(some), rtol=1e-6, atol=1e-5)
    with pytest.raises(KeyError):  # only the users whose features were computed
        scorer.score(Histories.from_item_lists([[1, 2]]))
