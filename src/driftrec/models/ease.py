"""EASE (Steck, WWW 2019): a closed-form linear item-item autoencoder.

B = I - P diagMat(1 / diag(P)) with P = (X^T X + lambda I)^-1, so diag(B) = 0;
score(u) = x_u B. One dense inverse of an items x items matrix: seconds for a few
thousand items.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import scipy.linalg
from pydantic import Field

from driftrec.data.dataset import Dataset, Histories
from driftrec.models.base import Recommender
from driftrec.models.config import ModelConfig


class EASEConfig(ModelConfig):
    """Options of the EASE model."""

    l2: float = Field(500.0, ge=0, description="L2 regularisation (lambda) added to the "
                      "diagonal of the item Gram matrix")


class EASE(Recommender):
    name = "ease"
    config_class = EASEConfig

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self.weights_ = np.zeros((0, 0), dtype=np.float32)

    def fit(self, dataset: Dataset) -> EASE:
        self.item_ids = dataset.item_ids
        x = dataset.interactions().astype(np.float64)
        gram = (x.T @ x).toarray()
        gram[np.diag_indices_from(gram)] += float(self.config["l2"])
        p = scipy.linalg.inv(gram, check_finite=False)
        b = -p / np.diag(p)
        np.fill_diagonal(b, 0.0)
        self.weights_ = b.astype(np.float32)
        return self

    def score(self, histories: Histories) -> np.ndarray:
        hist = histories.to_csr(self.n_items)
        return np.asarray(hist @ self.weights_, dtype=np.float32)

    def _save_state(self, directory: Path) -> None:
        np.save(directory / "ease_weights.npy", self.weights_)

    def _load_state(self, directory: Path) -> None:
        self.weights_ = np.load(directory / "ease_weights.npy")
