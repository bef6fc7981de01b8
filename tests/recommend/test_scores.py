"""The model's scores kept with a user context, re-scored by weights learned online."""

from __future__ import annotations

import numpy as np

from driftrec.feedback.update import Weights
from driftrec.models.fusion import Placement
from driftrec.recommend.scores import ModelScores


def test_online_weights_rescore_candidates_and_keep_untrained_ones_in_sequence_place():
    scores = np.array([0.0, 0.0, 0.0, 0.0, -1e4], dtype=np.float32)  # item 4: no candidate
    candidates = np.array([0, 1, 2, 3])
    features = np.array([[3.0], [2.0], [1.0], [9.0]])  # item 3 has no training events
    placement = Placement(sequence=np.array([0.9, 0.5, 0.1, 0.3], dtype=np.float32),
                          untrained=np.array([False, False, False, True]))
    weights = Weights(np.array([1.0]), 0.0)

    plain = ModelScores(scores, candidates, features).with_weights(weights)
    assert np.argsort(-plain).tolist() == [3, 0, 1, 2, 4]  # the weights alone put it first

    placed = ModelScores(scores, candidates, features, placement).with_weights(weights)
    assert np.argsort(-placed).tolist() == [0, 1, 3, 2, 4]  # between .5 and .1 by sequence
    np.testing.assert_array_equal(placed[:3], plain[:3])
    assert ModelScores(scores, candidates, features, placement).with_weights(None) is scores
