"""The scoring queue: concurrent requests' histories are scored together, with the scores
each would get alone."""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd
import pytest

from driftrec.data.dataset import Dataset, Histories
from driftrec.models.registry import create_model
from driftrec.recommend.batching import ScoringQueue
from driftrec.recommend.models import LoadedModel
from driftrec.recommend.scores import model_scores

N_ITEMS = 12


@pytest.fixture(scope="module")
def loaded() -> LoadedModel:
    rng = np.random.default_rng(0)
    events = pd.DataFrame([(f"u{u}", f"i{(u + t) % N_ITEMS}", t) for u in range(20)
                           for t in range(5)], columns=["user_id", "item_id", "timestamp"])
    items = pd.DataFrame({"item_id": [f"i{i}" for i in range(N_ITEMS)]})
    model = create_model("content").fit(Dataset.from_frames(events, items),
                                        item_vectors=rng.normal(size=(N_ITEMS, 8)))
    return LoadedModel(model=model, version="v1", path="memory")


def histories() -> list[Histories]:
    return [Histories.from_item_lists([[i, (i + 3) % N_ITEMS, (i + 5) % N_ITEMS]])
            for i in range(6)]


def test_concurrent_requests_are_scored_in_one_batch_as_if_alone(loaded):
    queue = ScoringQueue()

    async def requests() -> list:
        return await asyncio.gather(*(queue.score(loaded, h) for h in histories()))

    together = asyncio.run(requests())
    for alone, batched in zip((model_scores(loaded.model, h) for h in histories()), together,
                              strict=True):
        np.testing.assert_allclose(batched.scores, alone.scores, rtol=1e-5, atol=1e-6)
    # all six arrived before the first batch started (the event loop runs in order)
    assert (queue.batches, queue.scored) == (1, 6)
    assert not np.allclose(together[0].scores, together[1].scores)  # each its own history


def test_a_failed_batch_fails_its_requests_and_the_queue_goes_on(loaded, monkeypatch):
    queue = ScoringQueue()

    def broken(histories):
        raise RuntimeError("model broke")

    async def one() -> object:
        return await queue.score(loaded, histories()[0])

    monkeypatch.setattr(loaded.model, "score", broken)
    with pytest.raises(RuntimeError, match="model broke"):
        asyncio.run(one())
    monkeypatch.undo()
    assert asyncio.run(one()) is not None  # a new event loop, a new drainer
