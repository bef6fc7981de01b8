"""The online update of the fusion weights: one guarded logistic-regression step per batch.

The fused model scores ``P(relevant | x) = sigmoid(W . x + b)`` over standardised signals
``x``. A batch of labelled impressions ``(x_i, y_i, w_i)`` moves ``(W, b)`` along the
gradient of the weighted log-likelihood, with four guard rails:

* a decaying learning rate ``lr_t = lr / (1 + t / decay_updates)``;
* an L2 pull towards the offline weights ``W0``: the step adds ``-l2 * (W - W0)``;
* a cap on the step's norm (``max_step``);
* champion/challenger: both the offline ``(W0, b0)`` and the online ``(W, b)`` are scored on
  each incoming batch *before* it is learned from (prequential log-loss), averaged over a
  sliding window (an exponential moving average over about ``window`` rows, which is
  stored with the weights so every process continues it); when the online weights are
  worse by more than ``margin`` after at least ``min_rows`` rows, they are rolled back to
  the offline ones and the window starts again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, log_expit

from driftrec.feedback.config import UpdateConfig


@dataclass
class Weights:
    """One version of ``(W, b)`` over standardised signals."""

    coef: np.ndarray
    intercept: float
    updates: int = 0

    def logits(self, x: np.ndarray) -> np.ndarray:
        return x @ self.coef + self.intercept


@dataclass
class StepResult:
    weights: Weights
    rolled_back: bool
    online_loss: float
    offline_loss: float
    step_norm: float


@dataclass
class Challenger:
    """Moving-average log-loss of the online and the offline weights (prequential)."""

    window: int
    online: float = 0.0
    offline: float = 0.0
    rows: int = 0

    def add(self, online: np.ndarray, offline: np.ndarray, w: np.ndarray) -> None:
        for a, b, c in zip(online, offline, w, strict=True):
            self.rows += 1
            # the first rows average plainly, later ones decay with the window
            alpha = float(c) / max(min(self.rows, self.window), 1)
            alpha = min(alpha, 1.0)
            self.online += alpha * (float(a) - self.online)
            self.offline += alpha * (float(b) - self.offline)

    def losses(self) -> tuple[float, float]:
        return self.online, self.offline

    def reset(self) -> None:
        self.online = self.offline = 0.0
        self.rows = 0

    def to_dict(self) -> dict[str, float]:
        return {"online_loss": self.online, "offline_loss": self.offline, "rows": self.rows}

    @classmethod
    def from_dict(cls, data: dict, window: int) -> Challenger:
        return cls(window, float(data.get("online_loss", 0.0)),
                   float(data.get("offline_loss", 0.0)), int(data.get("rows", 0)))


def log_loss(weights: Weights, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-row ``-log P(y | x)`` under ``weights``."""
    z = weights.logits(x)
    return -(y * log_expit(z) + (1 - y) * log_expit(-z))


def gradient(weights: Weights, x: np.ndarray, y: np.ndarray, w: np.ndarray
             ) -> tuple[np.ndarray, float]:
    """Gradient of the weighted mean log-likelihood with respect to ``(W, b)``."""
    residual = w * (y - expit(weights.logits(x)))
    total = max(float(w.sum()), 1e-12)
    return x.T @ residual / total, float(residual.sum() / total)


def step(current: Weights, offline: Weights, x: np.ndarray, y: np.ndarray, w: np.ndarray,
         config: UpdateConfig, challenger: Challenger) -> StepResult:
    """Learn from one labelled batch (see module docstring)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    online_rows, offline_rows = log_loss(current, x, y), log_loss(offline, x, y)
    challenger.add(online_rows, offline_rows, w)
    online_loss, offline_loss = challenger.losses()
    if challenger.rows >= config.min_rows and online_loss > offline_loss + config.margin:
        challenger.reset()
        back = Weights(offline.coef.copy(), offline.intercept, current.updates + 1)
        return StepResult(back, True, online_loss, offline_loss, 0.0)
    g_coef, g_b = gradient(current, x, y, w)
    g_coef = g_coef - config.l2 * (current.coef - offline.coef)
    g_b = g_b - config.l2 * (current.intercept - offline.intercept)
    lr = config.lr / (1.0 + current.updates / config.decay_updates)
    delta = lr * np.append(g_coef, g_b)
    norm = float(np.linalg.norm(delta))
    if norm > config.max_step:
        delta *= config.max_step / norm
        norm = config.max_step
    new = Weights(current.coef + delta[:-1], current.intercept + float(delta[-1]),
                  current.updates + 1)
    return StepResult(new, False, online_loss, offline_loss, norm)
