"""Splits: tie order, reproducibility, and no leakage of held-out events into training."""

from __future__ import annotations

import numpy as np
import pandas as pd

from driftrec.data.dataset import Dataset, Histories
from driftrec.data.splits import (
    cold_item_split,
    leave_one_out,
    temporal_split,
    truncated_user_split,
)


def keyed(frame: pd.DataFrame) -> set[tuple[str, str, int]]:
    return set(zip(frame["user_id"], frame["item_id"], frame["timestamp"], strict=True))


def test_leave_one_out_keeps_source_order_for_equal_timestamps(tiny: Dataset) -> None:
    split = leave_one_out(tiny)
    test = dict(zip(split.test["user_id"], split.test["item_id"], strict=True))
    valid = dict(zip(split.valid["user_id"], split.valid["item_id"], strict=True))
    # u1's c and d share timestamp 3; d comes later in the file, so d is the test item.
    assert test == {"u1": "d", "u2": "e", "u3": "d"}
    assert valid == {"u1": "c", "u2": "c", "u3": "c"}
    assert sorted(split.train.events["item_id"]) == ["a", "a", "b", "b"]


def test_leave_one_out_on_real_data_has_no_leakage(ml100k: Dataset) -> None:
    split = leave_one_out(ml100k)
    assert len(split.test) == len(split.valid) == 943
    train = keyed(split.train.events)
    assert not train & keyed(split.test) and not train & keyed(split.valid)
    assert len(train) + len(split.test) + len(split.valid) == len(keyed(ml100k.events))
    # The test event is each user's latest.
    last = ml100k.events.groupby("user_idx")["timestamp"].max()
    test_ts = split.test.set_index("user_idx")["timestamp"].reindex(last.index)
    assert (test_ts == last).all()


def test_histories_are_time_ordered_and_include_validation_at_test(tiny: Dataset) -> None:
    split = leave_one_out(tiny)
    hist = split.histories("test")
    u1 = int(tiny.user_index(["u1"])[0])
    row = list(hist.users).index(u1)
    assert list(tiny.item_ids[hist.items[row]]) == ["a", "b", "c"]
    assert len(split.histories("valid").items[row]) == 2


def test_temporal_split_puts_all_later_events_in_test(ml100k: Dataset) -> None:
    split = temporal_split(ml100k, test_fraction=0.1)
    cut = split.info["cut"]
    assert (split.train.events["timestamp"] < split.info["valid_cut"]).all()
    assert (split.test["timestamp"] >= cut).all()
    assert set(split.test["user_idx"]) <= set(split.train.events["user_idx"])


def test_truncated_user_split_is_reproducible_and_truncates(ml100k: Dataset) -> None:
    a = truncated_user_split(ml100k, keep_first=3, seed=7)
    b = truncated_user_split(ml100k, keep_first=3, seed=7)
    c = truncated_user_split(ml100k, keep_first=3, seed=8)
    assert keyed(a.test) == keyed(b.test) and keyed(a.test) != keyed(c.test)
    cold_users = set(a.test["user_idx"])
    per_user = a.train.events.groupby("user_idx").size()
    assert (per_user.loc[sorted(cold_users)] == 3).all()
    # The kept events are each cold user's first three in time order.
    first = Histories.from_events(ml100k.events, np.array(sorted(cold_users)))
    kept = Histories.from_events(a.train.events, np.array(sorted(cold_users)))
    for full, short in zip(first.items, kept.items, strict=True):
        assert list(short) == list(full[:3])


def test_cold_item_split_removes_all_training_events_of_cold_items(ml100k: Dataset) -> None:
    split = cold_item_split(ml100k, item_fraction=0.1, seed=1)
    cold = set(split.info["cold_items"].tolist())
    assert len(cold) == 168
    assert not set(split.train.events["item_idx"]) & cold
    assert not set(split.valid["item_idx"]) & cold
    assert split.train.n_items == ml100k.n_items  # their text stays in the catalogue
    again = cold_item_split(ml100k, item_fraction=0.1, seed=1)
    assert set(again.info["cold_items"].tolist()) == cold
