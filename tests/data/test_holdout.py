"""The one last-event hold-out (``data/splits.py``): what leave-one-out, the fused model's
weights and the sequence model's early stopping all hold out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from driftrec.data.dataset import Dataset, Histories
from driftrec.data.schema import ITEM_IDX, TIMESTAMP, USER_IDX
from driftrec.data.splits import (
    holdout_last,
    holdout_sample,
    leave_one_out,
    position_from_end,
    sample_users,
)


def shuffled(dataset: Dataset, seed: int = 1) -> Dataset:
    """The same events with users interleaved at random; each user's own rows keep their
    relative order (so which of two same-second events is later does not change)."""
    ev = dataset.events
    users = ev[USER_IDX].to_numpy()
    keys = np.random.default_rng(seed).random(len(ev))
    new_keys = np.empty(len(ev))
    new_keys[np.argsort(users, kind="stable")] = keys[np.lexsort((keys, users))]
    return dataset.with_events(ev.iloc[np.argsort(new_keys)])


def test_holdout_last_takes_each_users_latest_event_in_time_order(tiny: Dataset) -> None:
    rest, held = holdout_last(tiny.events)
    assert dict(zip(held["user_id"], held["item_id"], strict=True)) == {
        "u1": "d", "u2": "e", "u3": "d"}  # u1's c and d share t=3: d is later in the file
    assert list(held[USER_IDX]) == sorted(held[USER_IDX])
    assert len(rest) + len(held) == len(tiny.events)
    assert list(rest.index) == sorted(rest.index)  # rest keeps the frame's row order


def test_holdout_last_several_events_users_and_minimum(tiny: Dataset) -> None:
    u2 = int(tiny.user_index(["u2"])[0])
    rest, held = holdout_last(tiny.events, users=np.array([u2]), last=2)
    assert list(held["item_id"]) == ["c", "e"]  # in time order
    assert len(rest) == len(tiny.events) - 2
    rest, held = holdout_last(tiny.events, min_events=4)
    assert list(held["user_id"]) == ["u1"]
    rest, held = holdout_last(tiny.events, users=np.array([], dtype=np.int64))
    assert held.empty and len(rest) == len(tiny.events)


def test_holdout_last_on_an_empty_frame(tiny: Dataset) -> None:
    rest, held = holdout_last(tiny.events.iloc[:0])
    assert rest.empty and held.empty


def test_sample_users_is_seeded_sorted_and_respects_the_minimum(ml100k: Dataset) -> None:
    a = sample_users(ml100k.events, 100, seed=3, min_events=30)
    assert np.array_equal(a, sample_users(ml100k.events, 100, seed=3, min_events=30))
    assert not np.array_equal(a, sample_users(ml100k.events, 100, seed=4, min_events=30))
    assert len(a) == 100 and np.all(np.diff(a) > 0)
    counts = ml100k.events.groupby(USER_IDX).size()
    assert (counts.loc[a] >= 30).all()
    assert len(sample_users(ml100k.events, 10**6, min_events=1)) == len(counts)
    assert len(sample_users(ml100k.events, 0)) == 0


def _old_leave_one_out(events: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame,
                                                      pd.DataFrame]:
    """The implementation leave-one-out had before the shared hold-out."""
    from_end = position_from_end(events)
    n_per_user = events.groupby(USER_IDX)[USER_IDX].transform("size").to_numpy()
    eligible = n_per_user >= 3
    test, valid = eligible & (from_end == 0), eligible & (from_end == 1)
    return events.loc[~(test | valid)], events.loc[valid], events.loc[test]


def _old_fusion_holdout(dataset: Dataset, n_users: int, seed: int
                        ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The fused model's hold-out before the shared one."""
    ev = dataset.events
    users = ev[USER_IDX].to_numpy()
    eligible = np.flatnonzero(np.bincount(users, minlength=dataset.n_users) >= 3)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(eligible, size=min(n_users, len(eligible)), replace=False)
    held = np.flatnonzero((position_from_end(ev) == 0) & np.isin(users, chosen))
    held = held[np.argsort(users[held], kind="stable")]
    keep = np.ones(len(ev), dtype=bool)
    keep[held] = False
    return ev[keep], ev.iloc[held].reset_index(drop=True)


def _old_sequence_holdout(seqs: list[np.ndarray], n_users: int, seed: int
                          ) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """The sequence model's early-stopping hold-out before the shared one."""
    rng = np.random.default_rng(seed)
    eligible = np.flatnonzero([len(s) >= 3 for s in seqs])
    chosen = np.sort(rng.choice(eligible, size=min(n_users, len(eligible)), replace=False))
    train = list(seqs)
    for u in chosen:
        train[u] = seqs[u][:-1]
    return train, [seqs[u][:-1] for u in chosen], np.asarray([seqs[u][-1] for u in chosen])


@pytest.mark.parametrize("order", ["file", "shuffled"])
def test_same_events_as_the_three_former_hold_outs(ml100k: Dataset, order: str) -> None:
    dataset = ml100k if order == "file" else shuffled(ml100k)
    ev = dataset.events
    # leave-one-out: same training rows (same order), same validation and test events.
    split = leave_one_out(dataset)
    train, valid, test = _old_leave_one_out(ev)
    pd.testing.assert_frame_equal(split.train.events, train.reset_index(drop=True))
    for new, old in ((split.valid, valid), (split.test, test)):
        pd.testing.assert_frame_equal(
            new, old.sort_values(USER_IDX, kind="stable").reset_index(drop=True))
    # the fused model's weights: same users, same held-out rows in the same order.
    inner, held = holdout_sample(dataset, 300, seed=7)
    old_inner, old_held = _old_fusion_holdout(dataset, 300, seed=7)
    pd.testing.assert_frame_equal(inner.events, old_inner.reset_index(drop=True))
    pd.testing.assert_frame_equal(held, old_held)
    # the sequence model's early stopping: same training sequences, inputs and targets.
    seqs = Histories.from_events(ev).items
    old_train, old_inputs, old_targets = _old_sequence_holdout(seqs, 300, seed=7)
    new_hist = Histories.from_events(inner.events)
    assert all(np.array_equal(a, b) for a, b in zip(new_hist.items, old_train, strict=True))
    rows = {int(u): r for r, u in enumerate(new_hist.users)}
    inputs = [new_hist.items[rows[int(u)]] for u in held[USER_IDX]]
    assert all(np.array_equal(a, b) for a, b in zip(inputs, old_inputs, strict=True))
    assert np.array_equal(held[ITEM_IDX].to_numpy(), old_targets)


def test_held_events_are_the_latest(ml100k: Dataset) -> None:
    _, held = holdout_sample(ml100k, 200, seed=0)
    latest = ml100k.events.groupby(USER_IDX)[TIMESTAMP].max()
    assert (held[TIMESTAMP].to_numpy() == latest.loc[held[USER_IDX]].to_numpy()).all()
