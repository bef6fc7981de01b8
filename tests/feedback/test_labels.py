"""The labelling rule: engaged items are positives weighted by engagement, the rest negatives."""

from __future__ import annotations

from driftrec.feedback.labels import Outcome, label_items


def test_engagement_types_set_positive_weights_and_low_ratings_are_negative():
    shown = [("a", 0), ("b", 1), ("c", 2), ("d", 3), ("e", 4)]
    outcomes = [Outcome("a", "view", None), Outcome("a", "purchase", None),
                Outcome("b", "click", None), Outcome("c", "rating", 1.0),
                Outcome("d", "rating", 3.0), Outcome("zzz", "purchase", None)]
    labels = {lab.item_id: (lab.y, lab.weight) for lab in label_items(shown, outcomes)}
    assert labels["a"] == (1, 3.0)        # the strongest engagement counts
    assert labels["b"] == (1, 1.0)
    assert labels["c"] == (0, 1.0)        # a low rating says "not for me"
    assert labels["d"] == (0, 1.0)        # a middling rating says nothing: like no event
    assert labels["e"] == (0, 1.0)        # shown, nothing happened


def test_position_decay_weakens_negatives_lower_in_the_list():
    labels = label_items([("a", 0), ("b", 3)], [], position_decay=1.0)
    assert labels[0].weight == 1.0 and labels[1].weight == 0.25
