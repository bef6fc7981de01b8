"""Baselines keep the model contract: fit, score, save/load round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from driftrec.data.dataset import Dataset, Histories
from driftrec.data.splits import leave_one_out
from driftrec.evaluation.evaluate import evaluate_model
from driftrec.models.base import Recommender
from driftrec.models.registry import create_model, get_model_class


@pytest.mark.parametrize("name", ["pop", "itemknn", "ease"])
def test_fit_score_save_load_round_trip(name: str, tiny: Dataset, tmp_path: Path) -> None:
    model = create_model(name).fit(tiny)
    hist = Histories.from_events(tiny.events)
    scores = model.score(hist)
    assert scores.shape == (len(hist), tiny.n_items)
    assert np.isfinite(scores).all()
    loaded = Recommender.load(model.save(tmp_path / name))
    assert type(loaded) is type(model)
    np.testing.assert_allclose(loaded.score(hist), scores, rtol=1e-6)


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
