"""Weights of the fused score for short histories: a user's first events follow other rules.

A user's first events are not like their later ones: on MovieLens-1M the sign-up flow
showed popular films, so what a new user rates first depends more on *where they are in
their history* than on what they rated. The fused model's main weights are fitted on the
held-out last events of long histories and cannot know that. So the fused model keeps the
first ``early_events`` events of some training users out of its components' training and
replays them, as a new user arrives, from 0, 1, 2, ... known events; per bucket of history
length it fits its own ``sigmoid(W . signals)`` on those steps, with one more signal:

* ``stage_popularity``: log(1 + how often an item was the j-th event, j within
  ``stage_window`` of the user's current history length) among training users.

Users with at least ``early_events`` events are scored by the main weights unchanged.
Short histories are fused over the whole catalogue (no candidate stage: the sequence
model's candidates are weakest exactly there).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from driftrec.data.dataset import Histories
from driftrec.data.schema import ITEM_IDX, USER_IDX
from driftrec.data.splits import rank_in_user

STAGE_SIGNAL = "stage_popularity"
#: Key of the history lengths in :meth:`FusedRecommender.features`.
N_EVENTS = "_n_events"


def stage_popularity(events: pd.DataFrame, n_items: int, positions: int, window: int
                     ) -> np.ndarray:
    """``(positions, n_items)``: row ``j`` is log(1 + count of each item as the
    ``j - window`` ... ``j + window``-th event of a training user)."""
    rank = rank_in_user(events)
    items = events[ITEM_IDX].to_numpy()
    out = np.zeros((positions, n_items), dtype=np.float32)
    keep = rank < positions + window
    per_rank = np.zeros((positions + window, n_items), dtype=np.float64)
    np.add.at(per_rank, (rank[keep], items[keep]), 1.0)
    for j in range(positions):
        out[j] = np.log1p(per_rank[max(0, j - window): j + window + 1].sum(0))
    return out


def fit_logistic(x: np.ndarray, y: np.ndarray, group: np.ndarray, *, C: float,
                 objective: str) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """Logistic regression on standardised features: ``(coef, intercept, mean, scale)``.

    ``pairwise``: the direction ``W`` is fitted on feature differences (each group's
    positive minus each of its negatives, RankNet-style), which is what ranking needs; then
    a one-dimensional logistic fit of the labels on ``W . x`` sets the scale and ``b`` so
    that ``sigmoid(W . x + b)`` is a calibrated probability. ``pointwise``: one logistic
    regression of the labels on the features.
    """
    mean = x.mean(0)
    std = x.std(0)
    scale = np.where(std > 1e-9, std, 1.0)
    xs = (x - mean) / scale
    if objective == "pointwise":
        lr = LogisticRegression(C=C, max_iter=1000).fit(xs, y)
        return lr.coef_[0].astype(np.float64), float(lr.intercept_[0]), mean, scale
    pos_of_group = {int(g): i for i, g in enumerate(group) if y[i] == 1}
    neg = np.flatnonzero(y == 0)
    diff = xs[[pos_of_group[int(g)] for g in group[neg]]] - xs[neg]
    pairs = np.vstack([diff, -diff])
    labels = np.concatenate([np.ones(len(diff)), np.zeros(len(diff))])
    w = LogisticRegression(C=C, fit_intercept=False, max_iter=1000).fit(pairs, labels)
    direction = w.coef_[0].astype(np.float64)
    calib = LogisticRegression(C=1e6, max_iter=1000).fit((xs @ direction)[:, None], y)
    slope = float(calib.coef_[0, 0])
    if slope <= 0:  # calibration must never flip the learned ranking
        slope = 1.0
    return direction * slope, float(calib.intercept_[0]), mean, scale


@dataclass
class BucketWeights:
    """``sigmoid(W . standardised signals + b)`` for histories of ``lower`` .. the next
    bucket's lower bound (exclusive) known events."""

    lower: int
    signals: list[str]
    coef: np.ndarray
    intercept: float
    mean: np.ndarray
    scale: np.ndarray

    def logits(self, feats: dict[str, np.ndarray], rows: np.ndarray) -> np.ndarray:
        n_items = feats[self.signals[0]].shape[1]
        out = np.full((len(rows), n_items), self.intercept, dtype=np.float32)
        for j, name in enumerate(self.signals):
            w = self.coef[j] / self.scale[j]
            out += np.float32(w) * feats[name][rows] - np.float32(w * self.mean[j])
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"lower": self.lower, "signals": self.signals, "coef": self.coef.tolist(),
                "intercept": self.intercept, "mean": self.mean.tolist(),
                "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> BucketWeights:
        return cls(int(raw["lower"]), list(raw["signals"]), np.asarray(raw["coef"]),
                   float(raw["intercept"]), np.asarray(raw["mean"]), np.asarray(raw["scale"]))


@dataclass
class EarlyWeights:
    """The short-history buckets and the stage popularity they read."""

    buckets: list[BucketWeights]
    stage: np.ndarray
    #: Histories with at least this many events use the main weights.
    upper: int

    def bucket_of(self, n_events: np.ndarray) -> np.ndarray:
        """Bucket index per history; -1 for the main weights."""
        lowers = np.asarray([b.lower for b in self.buckets])
        idx = np.searchsorted(lowers, n_events, side="right") - 1
        return np.where(np.asarray(n_events) >= self.upper, -1, idx)

    def stage_rows(self, n_events: np.ndarray) -> np.ndarray:
        return self.stage[np.minimum(n_events, len(self.stage) - 1)]

    def add_items(self, proxy: np.ndarray | None, n_new: int) -> None:
        """New items borrow their text neighbour's stage popularity (0 without one)."""
        grown = np.hstack([self.stage, np.zeros((len(self.stage), n_new), np.float32)])
        self.stage = (grown @ proxy.T).astype(np.float32) if proxy is not None else grown

    def to_dict(self) -> dict[str, Any]:
        return {"upper": self.upper, "buckets": [b.to_dict() for b in self.buckets]}

    @classmethod
    def from_dict(cls, raw: dict[str, Any], stage: np.ndarray) -> EarlyWeights:
        return cls([BucketWeights.from_dict(b) for b in raw["buckets"]], stage,
                   int(raw["upper"]))


def prefix_steps(events: pd.DataFrame, users: np.ndarray, first: int
                 ) -> tuple[Histories, np.ndarray]:
    """Each user's first ``first`` events as steps: history of the ``j`` before, target."""
    from driftrec.evaluation.replay import Replay

    chosen = events[events[USER_IDX].isin(users)]
    order = np.lexsort((chosen["timestamp"].to_numpy(), chosen[USER_IDX].to_numpy()))
    chosen = chosen.iloc[order]
    replay = Replay.from_user_events(
        (int(u), g.iloc[:0], g.iloc[:first]) for u, g in chosen.groupby(USER_IDX, sort=True))
    return replay.histories, replay.targets


def top_unbanned(scores: np.ndarray, banned: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores among items not banned."""
    masked = np.where(banned, -np.inf, scores)
    k = min(k, int((~banned).sum()))
    top = np.argpartition(-masked, k - 1)[:k] if k > 0 else np.array([], dtype=np.int64)
    return top[np.isfinite(masked[top])]
