"""Most-popular: every user gets the items with the most training interactions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from driftrec.data.dataset import Dataset, Histories
from driftrec.models.base import Recommender
from driftrec.models.config import ModelConfig


class PopularityConfig(ModelConfig):
    """The popularity model has no options."""


class Popularity(Recommender):
    """Scores are log(1 + number of users who interacted with the item)."""

    name = "pop"
    config_class = PopularityConfig

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self.scores_ = np.zeros(0, dtype=np.float32)

    def fit(self, dataset: Dataset) -> Popularity:
        self.item_ids = dataset.item_ids
        counts = np.asarray(dataset.interactions().sum(axis=0)).ravel()
        self.scores_ = np.log1p(counts).astype(np.float32)
        return self

    def score(self, histories: Histories) -> np.ndarray:
        return np.broadcast_to(self.scores_, (len(histories), self.n_items)).copy()

    def _save_state(self, directory: Path) -> None:
        np.save(directory / "popularity.npy", self.scores_)

    def _load_state(self, directory: Path) -> None:
        self.scores_ = np.load(directory / "popularity.npy")
