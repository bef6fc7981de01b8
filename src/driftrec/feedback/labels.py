"""The labelling rule: which shown items count as positives, which as negatives.

An impression (a served list) is labelled once its attribution window has closed:

* an event carrying the impression's ``recommendation_id`` is attributed to it (explicit);
* otherwise an event of the same user on a shown item, received within ``window_s`` after
  the list was served, is attributed to the *latest* impression that showed that item to
  the user before the event (implicit);
* a shown item with attributed engagement is a positive whose weight is its strongest
  event's weight (:data:`ENGAGEMENT_WEIGHTS`: purchase > cart, like > click > view; a rating
  of 4 or more counts as a click, 3 as nothing); a rating of 2 or less, or a ``skip``, is
  a *negative* with weight 1;
* a shown item with no attributed event is a negative with weight ``negative_weight``.

Known biases: users see the top of a list more than its bottom (position bias), so an
unclicked low position is weaker evidence than an unclicked top one; the position is kept
with every row, and ``position_decay > 0`` down-weights negatives by an inverse-propensity
estimate ``(1 + position) ** -position_decay``. Items never shown never get labels
(selection bias), which exploration would address.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

#: Weight of a positive by event type.
ENGAGEMENT_WEIGHTS = {"purchase": 3.0, "cart": 2.0, "like": 2.0, "click": 1.0,
                      "review": 1.0, "view": 0.5}
#: Event types that say "not for me".
NEGATIVE_TYPES = ("skip", "dislike", "hide")
LOW_RATING = 2.0
HIGH_RATING = 4.0


@dataclass(frozen=True)
class Outcome:
    """An event as the labelling rule sees it."""

    item_id: str
    event_type: str
    value: float | None


@dataclass(frozen=True)
class Label:
    item_id: str
    position: int
    y: int
    weight: float


def event_label(outcome: Outcome) -> tuple[int, float] | None:
    """``(y, weight)`` of one attributed event, or None when it says nothing."""
    if outcome.event_type in NEGATIVE_TYPES:
        return 0, 1.0
    if outcome.event_type == "rating":
        if outcome.value is None:
            return 1, ENGAGEMENT_WEIGHTS["click"]
        if outcome.value <= LOW_RATING:
            return 0, 1.0
        if outcome.value >= HIGH_RATING:
            return 1, ENGAGEMENT_WEIGHTS["click"]
        return None
    weight = ENGAGEMENT_WEIGHTS.get(outcome.event_type)
    return None if weight is None else (1, weight)


def label_items(shown: Iterable[tuple[str, int]], outcomes: Iterable[Outcome], *,
                negative_weight: float = 1.0, position_decay: float = 0.0) -> list[Label]:
    """Labels of one impression's shown ``(item_id, position)`` pairs from the events
    attributed to it."""
    by_item: dict[str, list[tuple[int, float]]] = {}
    for outcome in outcomes:
        label = event_label(outcome)
        if label is not None:
            by_item.setdefault(outcome.item_id, []).append(label)
    out = []
    for item_id, position in shown:
        labels = by_item.get(item_id)
        if labels:
            positives = [w for y, w in labels if y == 1]
            y, w = (1, max(positives)) if positives else (0, 1.0)
        else:
            y, w = 0, negative_weight
        if y == 0 and position_decay > 0:
            w *= (1.0 + position) ** -position_decay
        out.append(Label(item_id, position, y, w))
    return out
