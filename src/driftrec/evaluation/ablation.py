"""Evaluate fused-model variants from one feature pass.

The fused model's features (the component models' signals) are the costly part of its
scoring; its ``with_signals`` ablations only change the weights. :func:`fused_features`
computes every history's features once, and :class:`PrecomputedFeatures` scores a fused
model (or an ablation of it) from them with ``score_features``, the same arithmetic as
``FusedRecommender.score``, so any evaluation can rank them like any other model.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from rich.progress import track

from driftrec.data.dataset import Dataset, Histories
from driftrec.models.base import Recommender
from driftrec.models.fusion import FusedRecommender


def fused_features(model: FusedRecommender, histories: Histories, batch: int = 512
                   ) -> dict[str, np.ndarray]:
    """Features of every history (one row each, in order), computed in batches."""
    parts: dict[str, list[np.ndarray]] = {}
    for start in track(range(0, len(histories), batch),
                       description=f"fused features of {len(histories):,} users"):
        for key, value in model.features(histories.subset(slice(start, start + batch))).items():
            parts.setdefault(key, []).append(np.ascontiguousarray(value))
    return {k: np.concatenate(v) for k, v in parts.items()}


class PrecomputedFeatures(Recommender):
    """Scores a fused variant from features computed once for ``users`` (the user index of
    each feature row); it can score only those users, not new histories."""

    name: ClassVar[str] = "fused-ablation"

    def __init__(self, model: FusedRecommender, feats: dict[str, np.ndarray],
                 users: np.ndarray) -> None:
        super().__init__()
        self.model, self.feats = model, feats
        self.row = {int(u): r for r, u in enumerate(users)}
        self.item_ids = model.item_ids

    def fit(self, dataset: Dataset) -> PrecomputedFeatures:  # pragma: no cover - never trained
        raise NotImplementedError("PrecomputedFeatures scores a fitted fused model")

    def score(self, histories: Histories) -> np.ndarray:
        rows = np.asarray([self.row[int(u)] for u in histories.users])
        return self.model.score_features({k: v[rows] for k, v in self.feats.items()})
