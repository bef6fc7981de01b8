"""The online update of the fusion weights: the gradient step and its guard rails."""

from __future__ import annotations

import numpy as np

from driftrec.feedback.config import UpdateConfig
from driftrec.feedback.update import Challenger, Weights, gradient, step


def test_the_gradient_matches_a_hand_computed_example():
    # W = (1, 0), b = 0; x1 = (1, 0) is a positive, x2 = (0, 1) a negative
    w = Weights(np.array([1.0, 0.0]), 0.0)
    x = np.array([[1.0, 0.0], [0.0, 1.0]])
    y = np.array([1.0, 0.0])
    g_coef, g_b = gradient(w, x, y, np.ones(2))
    s1 = 1 / (1 + np.exp(-1.0))  # sigmoid(1)
    # residuals: (1 - s1) for the positive, (0 - 0.5) for the negative; mean over 2 rows
    assert np.allclose(g_coef, [(1 - s1) / 2, -0.5 / 2])
    assert np.isclose(g_b, ((1 - s1) - 0.5) / 2)


def test_a_step_moves_the_weights_along_the_gradient():
    cfg = UpdateConfig(lr=0.1, l2=0.0, max_step=10.0)
    w = Weights(np.array([1.0, 0.0]), 0.0)
    x = np.array([[1.0, 0.0], [0.0, 1.0]])
    y = np.array([1.0, 0.0])
    result = step(w, w, x, y, np.ones(2), cfg, Challenger(cfg.window))
    g_coef, g_b = gradient(w, x, y, np.ones(2))
    assert np.allclose(result.weights.coef - w.coef, 0.1 * g_coef)
    assert np.isclose(result.weights.intercept - w.intercept, 0.1 * g_b)
    assert result.weights.updates == 1 and not result.rolled_back


def test_the_pull_towards_the_offline_weights_and_the_decaying_rate():
    cfg = UpdateConfig(lr=0.1, l2=1.0, max_step=10.0, decay_updates=1.0)
    offline = Weights(np.zeros(2), 0.0)
    drifted = Weights(np.array([2.0, 0.0]), 0.0, updates=1)
    x = np.zeros((4, 2))  # no information: only the pull acts
    y = np.array([1.0, 0.0, 1.0, 0.0])
    result = step(drifted, offline, x, y, np.ones(4), cfg, Challenger(cfg.window))
    # rate 0.1 / (1 + 1/1) = 0.05; pull -1.0 * (2 - 0) on the first weight
    assert np.allclose(result.weights.coef, [2.0 - 0.05 * 2.0, 0.0])


def test_the_step_norm_is_capped():
    cfg = UpdateConfig(lr=100.0, max_step=0.05)
    w = Weights(np.zeros(3), 0.0)
    x = np.eye(3) * 50
    result = step(w, w, x, np.ones(3), np.ones(3), cfg, Challenger(cfg.window))
    moved = np.append(result.weights.coef, result.weights.intercept)
    assert np.isclose(np.linalg.norm(moved), 0.05)
    assert np.isclose(result.step_norm, 0.05)


def test_an_adversarial_stream_is_rolled_back_to_the_offline_weights():
    """Feedback that is pure noise, learned with a reckless rate: the online weights chase
    each batch and predict the next one confidently wrong, worse than the offline weights
    (which know nothing and say 50%); the challenger check rolls them back, and with a
    sane step cap the weights never run away."""
    rng = np.random.default_rng(0)
    offline = Weights(np.zeros(2), 0.0)
    reckless = UpdateConfig(lr=20.0, max_step=20.0, l2=0.0, min_rows=50, window=200)
    capped = UpdateConfig(lr=20.0, max_step=0.05, l2=0.0, min_rows=50, window=200)
    outcomes = {}
    for name, cfg in (("reckless", reckless), ("capped", capped)):
        current, challenger, rollbacks = Weights(offline.coef.copy(), 0.0), \
            Challenger(cfg.window), 0
        for _ in range(60):
            x = rng.normal(size=(20, 2))
            y = rng.integers(0, 2, size=20).astype(float)
            result = step(current, offline, x, y, np.ones(20), cfg, challenger)
            rollbacks += result.rolled_back
            current = result.weights
        outcomes[name] = (rollbacks, float(np.linalg.norm(current.coef)))
    assert outcomes["reckless"][0] >= 1
    assert outcomes["capped"][1] < 60 * 0.05 + 1e-9  # bounded by the step cap


def test_the_challenger_window_survives_a_round_trip():
    c = Challenger(100)
    c.add(np.array([0.5, 0.7]), np.array([0.6, 0.6]), np.ones(2))
    again = Challenger.from_dict(c.to_dict(), 100)
    assert again.losses() == c.losses() and again.rows == 2
