"""The model's scores of a user's history, as the serving pipeline keeps them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from driftrec.data.dataset import Histories
from driftrec.feedback.update import Weights
from driftrec.models.base import Recommender
from driftrec.models.fusion import FusedRecommender, Placement, place_untrained


@dataclass
class ModelScores:
    """The model's view of one user context, kept with the context.

    For the fused model it also keeps the standardised signals of its candidate items, so
    that weights learned online re-rank them without recomputing anything.
    """

    scores: np.ndarray
    candidates: np.ndarray | None = None
    features: np.ndarray | None = None
    #: How the fused model places its untrained candidates (None: nothing to place).
    placement: Placement | None = None

    def with_weights(self, weights: Weights | None) -> np.ndarray:
        """Scores under ``weights`` (None: the model's own, exactly as offline); untrained
        candidates are placed among the re-scored ones as the model places them."""
        if weights is None or self.candidates is None or self.features is None:
            return self.scores
        out = self.scores.copy()
        logits = weights.logits(self.features).astype(np.float32)
        if self.placement is not None:
            logits = place_untrained(logits, self.placement.sequence,
                                     self.placement.untrained)
        out[self.candidates] = logits
        return out

    @cached_property
    def candidate_rows(self) -> dict[int, int]:
        """Row of ``features`` of each candidate column (built once: the scores are kept
        with the user's context and asked on every request)."""
        if self.candidates is None:
            return {}
        return {int(c): r for r, c in enumerate(self.candidates)}


def model_scores_batch(model: Recommender, histories: Histories) -> list[ModelScores | None]:
    """Score each history (None for one where every item scores alike: nothing to say)."""
    if isinstance(model, FusedRecommender):
        feats = model.features(histories)
        scores = np.asarray(model.score_features(feats), dtype=np.float32)
        results = [ModelScores(scores[r].copy(), *model.online_features(feats, r))
                   for r in range(len(histories))]
    else:
        scores = np.asarray(model.score(histories), dtype=np.float32)
        results = [ModelScores(scores[r].copy()) for r in range(len(histories))]
    return [r if _informative(r.scores) else None for r in results]


def model_scores(model: Recommender, history: Histories) -> ModelScores | None:
    """Score one history (see :func:`model_scores_batch`)."""
    return model_scores_batch(model, history)[0]


def _informative(scores: np.ndarray) -> bool:
    finite = np.isfinite(scores)
    return bool(finite.any()) and scores[finite].max() > scores[finite].min()
