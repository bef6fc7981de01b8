"""Prequential replays: new users held out of training, and the streaming protocol."""

from __future__ import annotations

import numpy as np

from driftrec.data.dataset import Dataset
from driftrec.evaluation import replay as rp
from driftrec.evaluation import runner
from driftrec.models.registry import create_model


def test_new_users_are_absent_from_training_and_see_only_earlier_events(
        ml100k: Dataset) -> None:
    train, steps = rp.new_user_replay(ml100k, first=20, seed=3)
    _, valid_steps = rp.new_user_replay(ml100k, stage="valid", first=20, seed=3)
    test_users = set(steps.histories.users.tolist())
    valid_users = set(valid_steps.histories.users.tolist())
    assert test_users and valid_users and not test_users & valid_users
    assert not (test_users | valid_users) & set(train.events["user_idx"].tolist())

    ev = ml100k.events.sort_values(["user_idx", "timestamp"], kind="stable")
    for user in list(test_users)[:25]:
        own = ev[ev["user_idx"] == user]["item_idx"].to_numpy()
        rows = np.flatnonzero(steps.histories.users == user)
        assert steps.known[rows].tolist() == list(range(min(20, len(own))))
        for r in rows:
            j = steps.known[r]
            # The history is exactly the events before the target: nothing later leaks.
            assert steps.histories.items[r].tolist() == own[:j].tolist()
            assert steps.targets[r] == own[j]


def test_streaming_live_history_grows_while_frozen_stays_at_the_cut(ml100k: Dataset) -> None:
    train, live, frozen = rp.streaming_replay(ml100k, users=20, per_user=5, seed=1)
    cut = train.events["timestamp"].max()
    assert (live.targets == frozen.targets).all()
    for r in range(len(live)):
        assert len(live.histories.items[r]) == len(frozen.histories.items[r]) + (
            live.known[r] - frozen.known[r])
        assert frozen.histories.timestamps[r].max() <= cut
        # Both exclude what the user has seen by then: they differ only in the state.
        assert (frozen.excluded(r) == live.excluded(r)).all()


def test_rank_summary_counts_hits_and_discounts_by_rank() -> None:
    out = rp.rank_summary(np.array([0, 1, 9, 10, 50]), (1, 10))
    assert out["HR@1"] == 0.2 and out["HR@10"] == 0.6
    assert np.isclose(out["NDCG@10"], (1 + 1 / np.log2(3) + 1 / np.log2(11)) / 5)
    assert out["steps"] == 5


def test_cold_user_protocol_reports_each_k_and_history_buckets(ml100k: Dataset) -> None:
    rows = runner.run(ml100k, "cold-user", ["pop"], ks=(10,), progress=False)
    labels = [r["protocol"] for r in rows]
    assert labels[:5] == [f"cold-user k={k} (predict event {k + 1})" for k in (0, 1, 3, 5, 10)]
    assert labels[5:] == [f"cold-user {b[0]}" for b in rp.NEW_USER_BUCKETS]
    # Popularity ignores the history, so its k=0 row is its plain popularity ranking.
    pop = create_model("pop").fit(rp.new_user_replay(ml100k)[0])
    _, steps = rp.new_user_replay(ml100k)
    first = steps.subset(steps.known == 0)
    top = np.argsort(-pop.score(first.histories)[0], kind="stable")[:10]
    assert rows[0]["HR@10"] == np.isin(first.targets, top).mean()
