"""Offline protocols through the serving pipeline: the lists users get score like the model."""

from __future__ import annotations

import pytest
from service_helpers import make_settings_for, synthetic_events, synthetic_items

from driftrec.data.dataset import Dataset
from driftrec.data.splits import cold_item_split, leave_one_out
from driftrec.evaluation.evaluate import evaluate_detailed
from driftrec.evaluation.replay import new_user_replay, replay_ranks
from driftrec.evaluation.served import served_evaluation, served_replay
from driftrec.models.bundle import save_bundle
from driftrec.models.registry import create_model
from driftrec.recommend.encoding import HashingEncoder
from driftrec.service.core import ServiceCore
from driftrec.text import item_texts

pytestmark = pytest.mark.slow

SEQ = dict(hidden=16, n_layers=1, n_heads=1, max_len=12, batch_size=16, lr=1e-2,
           warmup_steps=1, threads=1, valid_users=0, max_epochs=3)


def fused_on(split, directory, **options):
    emb = HashingEncoder().encode(item_texts(split.train.items))
    options = {"holdout_users": 48, **options}
    model = create_model("fused", encoder="hashing", sequence=SEQ, hard_negatives=5,
                         random_negatives=5, **options)
    model.fit(split.train, item_embeddings=emb)
    return model, save_bundle(model, split.train, directory)


@pytest.mark.parametrize("protocol", ["loo", "cold-item"])
def test_served_lists_score_exactly_like_the_offline_model(protocol, tmp_path):
    items = synthetic_items()
    dataset = Dataset.from_frames(synthetic_events(items, n_users=48), items)
    split = leave_one_out(dataset) if protocol == "loo" else cold_item_split(dataset, seed=1)
    model, bundle = fused_on(split, tmp_path / "model")
    offline = evaluate_detailed(model, split, ks=(5, 10))
    core = ServiceCore(make_settings_for(f"sqlite:///{tmp_path / 'served.db'}", bundle))
    try:
        served, timings = served_evaluation(core, split, ks=(5, 10), progress=False)
    finally:
        core.close()
    assert (served.lists[:, :10] == offline.lists[:, :10]).all()
    assert served.metrics == offline.metrics
    assert timings["recommend_ms_per_user"] > 0


def test_new_users_replayed_through_the_service_rank_like_the_offline_model(tmp_path):
    items = synthetic_items()
    dataset = Dataset.from_frames(synthetic_events(items, n_users=96), items)
    train, steps = new_user_replay(dataset, first=8, user_fraction=0.1)
    split = type("S", (), {"train": train})()
    model, bundle = fused_on(split, tmp_path / "model", holdout_users=40, early_users=20,
                             early_events=4, early_buckets=[0, 1])
    assert model.early is not None  # short histories use their own weights on both paths
    offline = replay_ranks(model, steps, max_k=10)
    core = ServiceCore(make_settings_for(f"sqlite:///{tmp_path / 'served.db'}", bundle))
    try:
        served, timings = served_replay(core, steps, train.user_ids, train.item_ids,
                                        max_k=10, progress=False)
    finally:
        core.close()
    assert (steps.known == 0).any() and (steps.known >= 4).any()
    assert (served == offline).all()
    assert timings["recommend_ms_per_step"] > 0
