"""Item-kNN: cosine similarity between item columns of the interaction matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from pydantic import Field
from sklearn.preprocessing import normalize

from driftrec.data.dataset import Dataset, Histories
from driftrec.models.base import Recommender
from driftrec.models.config import ModelConfig


class ItemKNNConfig(ModelConfig):
    """Options of the item-kNN model."""

    neighbours: int = Field(100, ge=0, description="most similar items kept per item "
                            "(0: keep all)")
    shrink: float = Field(0.0, ge=0, description="damps similarities from few co-users: "
                          "sim * co / (co + shrink) (0: off)")


class ItemKNN(Recommender):
    """score(u, i) = sum over the user's items j of sim(j, i), keeping each item's
    ``neighbours`` most similar items; ``shrink`` damps similarities from few co-users."""

    name = "itemknn"
    config_class = ItemKNNConfig

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self.similarity_ = sp.csr_matrix((0, 0), dtype=np.float32)

    def fit(self, dataset: Dataset) -> ItemKNN:
        self.item_ids = dataset.item_ids
        x = dataset.interactions().astype(np.float32)
        cols = normalize(x.T.tocsr(), norm="l2", axis=1)
        sim = (cols @ cols.T).toarray()
        if self.config["shrink"]:
            co = (x.T @ x).toarray()
            sim *= co / (co + self.config["shrink"])
        np.fill_diagonal(sim, 0.0)
        k = min(int(self.config["neighbours"]), sim.shape[1] - 1)
        if 0 < k < sim.shape[1] - 1:
            # Keep the k strongest neighbours of every item (rows are "from" items).
            cut = np.argpartition(-sim, k, axis=1)[:, k:]
            np.put_along_axis(sim, cut, 0.0, axis=1)
        self.similarity_ = sp.csr_matrix(sim.astype(np.float32))
        return self

    def score(self, histories: Histories) -> np.ndarray:
        hist = histories.to_csr(self.n_items)
        return np.asarray((hist @ self.similarity_).todense(), dtype=np.float32)

    def _save_state(self, directory: Path) -> None:
        sp.save_npz(directory / "similarity.npz", self.similarity_)

    def _load_state(self, directory: Path) -> None:
        self.similarity_ = sp.load_npz(directory / "similarity.npz").tocsr()
