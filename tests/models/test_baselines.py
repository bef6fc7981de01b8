"""Baselines rank what they should (the contract every model keeps, fit, score and a
save/load round trip, is checked for all of them in ``test_contract.py``)."""

from __future__ import annotations

import pytest

from driftrec.data.dataset import Dataset, Histories
from driftrec.data.splits import leave_one_out
from driftrec.evaluation.evaluate import evaluate_model
from driftrec.models.registry import create_model, get_model_class


def test_itemknn_recommends_co_consumed_items() -> None:
    import pandas as pd

    # Everyone who has x also has y; z is unrelated.
    events = pd.DataFrame({"user_id": ["1", "1", "2", "2", "3"], "item_id": list("xyxyz")})
    ds = Dataset.from_frames(events)
    model = create_model("itemknn").fit(ds)
    scores = model.score(Histories.from_item_lists([[int(ds.item_index(["x"])[0])]]))[0]
    assert scores[ds.item_index(["y"])[0]] > scores[ds.item_index(["z"])[0]]


def test_ease_beats_popularity_on_ml100k(ml100k: Dataset) -> None:
    split = leave_one_out(ml100k)
    pop = evaluate_model(create_model("pop").fit(split.train), split, ks=(10,))
    ease = evaluate_model(create_model("ease").fit(split.train), split, ks=(10,))
    assert ease["NDCG@10"] > pop["NDCG@10"]


def test_unknown_model_name_lists_known_ones() -> None:
    with pytest.raises(ValueError, match=r"known models: .*ease"):
        get_model_class("nope")
