"""Weights of the fused score for short histories: a user's first events follow other rules.

A user's first events are not like their later ones: on MovieLens-1M the sign-up flow
showed popular films, so what a new user rates first depends more on *where they are in
their history* than on what they rated. The fused model's main weights are fitted on the
held-out last events of long histories and cannot know that. So the fused model keeps the
first ``early_events`` events of some training users out of its components' training and
replays them, as a new user arrives, from 0, 1, 2, ... known events; per bucket of history
length it fits its own ``sigmoid(W . signals)`` on those steps, with one more signal:

* ``stage_popularity``: log(1 + how often an item was the j-th event, j within
  ``stage_window`` of the user's current history length) among training users;
* ``early_transitions``: log(1 + how often an item came right after (or, at half weight,
  right before) the user's last three items, weighted 1, 1/2, 1/4 from the latest) among
  the first ``early_events`` events of training users: what people went on to next at
  the same stage.

Users with at least ``early_events`` events are scored by the main weights unchanged.
Short histories are fused over the whole catalogue (no candidate stage: the sequence
model's candidates are weakest exactly there).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from driftrec.data.dataset import Histories
from driftrec.data.schema import ITEM_IDX, USER_IDX
from driftrec.data.splits import rank_in_user

STAGE_SIGNAL = "stage_popularity"
TRANSITION_SIGNAL = "early_transitions"
#: Weights of the last three known items in ``early_transitions``, oldest first.
RECENT_WEIGHTS = np.array([0.25, 0.5, 1.0], dtype=np.float32)
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


def early_transitions(events: pd.DataFrame, n_items: int, positions: int) -> sp.csr_matrix:
    """``(n_items, n_items)``: how often the column item followed the row item among the
    first ``positions`` events of a user (and half as often when it came right before)."""
    rank = rank_in_user(events)
    keep = rank < positions
    users = events[USER_IDX].to_numpy()[keep]
    items = events[ITEM_IDX].to_numpy()[keep]
    order = np.lexsort((rank[keep], users))
    users, items = users[order], items[order]
    same = users[1:] == users[:-1]
    prev, nxt = items[:-1][same], items[1:][same]
    rows = np.concatenate([prev, nxt])
    cols = np.concatenate([nxt, prev])
    vals = np.concatenate([np.ones(len(prev)), np.full(len(prev), 0.5)]).astype(np.float32)
    mat = sp.csr_matrix((vals, (rows, cols)), shape=(n_items, n_items), dtype=np.float32)
    mat.sum_duplicates()
    return mat


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


def fit_listwise(x: np.ndarray, *, C: float) -> tuple[np.ndarray, float, np.ndarray,
                                                      np.ndarray]:
    """Conditional logit over sampled lists: ``x`` is ``(steps, 1 + negatives, signals)``
    with the target first and uniformly drawn items after it. Maximises the softmax
    likelihood of the target within its list (the full-catalogue ranking objective, which
    uniform sampling estimates without bias), with an L2 penalty ``1 / (2C)``; then a
    one-dimensional logistic fit of target-vs-rest on ``W . x`` sets the scale and ``b``.
    Returns ``(coef, intercept, mean, scale)`` on standardised signals."""
    from scipy.optimize import minimize
    from scipy.special import log_softmax

    flat = x.reshape(-1, x.shape[-1])
    mean = flat.mean(0)
    std = flat.std(0)
    scale = np.where(std > 1e-9, std, 1.0)
    xs = (x - mean) / scale
    n = len(xs)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        logits = xs @ w
        logp = log_softmax(logits, axis=1)
        p = np.exp(logp)
        value = -logp[:, 0].sum() / n + 0.5 * (w @ w) / (C * n)
        grad = -(xs[:, 0, :] - np.einsum("nm,nmd->nd", p, xs)).sum(0) / n + w / (C * n)
        return float(value), grad

    w = minimize(loss, np.zeros(x.shape[-1]), jac=True, method="L-BFGS-B").x
    labels = np.zeros(x.shape[:2])
    labels[:, 0] = 1
    calib = LogisticRegression(C=1e6, max_iter=1000).fit(
        (xs @ w).reshape(-1, 1), labels.ravel())
    slope = max(float(calib.coef_[0, 0]), 1e-6)  # never flip the learned ranking
    return w * slope, float(calib.intercept_[0]), mean, scale


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
    transitions: sp.csr_matrix

    def bucket_of(self, n_events: np.ndarray) -> np.ndarray:
        """Bucket index per history; -1 for the main weights."""
        lowers = np.asarray([b.lower for b in self.buckets])
        idx = np.searchsorted(lowers, n_events, side="right") - 1
        return np.where(np.asarray(n_events) >= self.upper, -1, idx)

    def stage_rows(self, n_events: np.ndarray) -> np.ndarray:
        return self.stage[np.minimum(n_events, len(self.stage) - 1)]

    def transition_rows(self, histories: Histories) -> np.ndarray:
        """``early_transitions`` of each history (zeros for an empty one)."""
        out = np.zeros((len(histories), self.transitions.shape[1]), dtype=np.float32)
        for r, items in enumerate(histories.items):
            last = items[-len(RECENT_WEIGHTS):]
            last = last[(last >= 0) & (last < self.transitions.shape[0])]
            if len(last):
                w = RECENT_WEIGHTS[-len(last):]
                out[r] = np.log1p(self.transitions[last].T @ w)
        return out

    def add_items(self, proxy: np.ndarray | None, n_new: int) -> None:
        """New items borrow their text neighbour's stage popularity (0 without one); they
        have no transitions yet."""
        grown = np.hstack([self.stage, np.zeros((len(self.stage), n_new), np.float32)])
        self.stage = (grown @ proxy.T).astype(np.float32) if proxy is not None else grown
        n = self.transitions.shape[0] + n_new
        self.transitions = sp.csr_matrix(
            (self.transitions.data, self.transitions.indices,
             np.concatenate([self.transitions.indptr,
                             np.full(n_new, self.transitions.indptr[-1])])), shape=(n, n))

    def to_dict(self) -> dict[str, Any]:
        return {"upper": self.upper, "buckets": [b.to_dict() for b in self.buckets]}

    def save(self, directory: Path) -> dict[str, Any]:
        np.save(directory / "stage_popularity.npy", self.stage)
        sp.save_npz(directory / "early_transitions.npz", self.transitions)
        return self.to_dict()

    @classmethod
    def load(cls, raw: dict[str, Any], directory: Path) -> EarlyWeights:
        return cls([BucketWeights.from_dict(b) for b in raw["buckets"]],
                   np.load(directory / "stage_popularity.npy"), int(raw["upper"]),
                   sp.load_npz(directory / "early_transitions.npz").tocsr())


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
