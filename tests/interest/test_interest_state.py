"""Interest state: decay, event weights, late events, redeliveries, plain-data round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from driftrec.interest import Event, InterestConfig, InterestState, new_state, update
from driftrec.interest.config import DAY

E = np.eye(4)  # four orthogonal "item embeddings"


def rating(item: int, t: float, value: float = 5.0) -> Event:
    return Event("u", str(item), t, "rating", value)


def test_first_event_sets_both_interests() -> None:
    s = new_state("u", 4)
    assert update(s, rating(0, 0.0), E[0])
    np.testing.assert_allclose(s.long_term, E[0])
    np.testing.assert_allclose(s.short_term, E[0])
    assert s.drift == pytest.approx(0.0)


def test_short_term_forgets_faster_than_long_term() -> None:
    cfg = InterestConfig(long_half_life_s=100 * DAY, short_half_life_s=1 * DAY)
    s = new_state("u", 4)
    for t in range(5):  # a week of item 0 ...
        update(s, rating(0, t * DAY / 5), E[0], config=cfg)
    update(s, rating(1, 10 * DAY), E[1], config=cfg)  # ... then item 1, ten days later
    assert s.short_term[1] > 0.99  # short-term has moved on
    assert s.long_term[0] > s.long_term[1]  # long-term still mostly item 0
    assert s.drift > 0.3


def test_half_life_halves_the_mass() -> None:
    cfg = InterestConfig(long_half_life_s=10.0, short_half_life_s=2.0)
    s = new_state("u", 4)
    update(s, rating(0, 0.0), E[0], config=cfg)
    update(s, Event("u", "1", 10.0, "view"), E[1] * 0, config=cfg)  # moves the clock only
    assert s.long_sum[0] == pytest.approx(0.5)
    assert s.short_sum[0] == pytest.approx(2.0 ** -5)


def test_purchase_outweighs_click_outweighs_view() -> None:
    cfg = InterestConfig()
    s = new_state("u", 4)
    for item, kind in ((0, "view"), (1, "click"), (2, "purchase")):
        update(s, Event("u", str(item), 0.0, kind), E[item], config=cfg)
    assert s.long_sum[2] > s.long_sum[1] > s.long_sum[0] > 0


def test_low_ratings_count_little_by_default() -> None:
    cfg = InterestConfig()
    assert cfg.event_weight("rating", 5) == 1.0
    assert cfg.event_weight("rating", 3) == 0.5
    assert 0 < cfg.event_weight("rating", 1) < cfg.event_weight("rating", 2)


def test_low_ratings_can_push_interest_away() -> None:
    cfg = InterestConfig(rating_pivot=2.0, min_rating_factor=-0.5)
    assert cfg.event_weight("rating", 2) == 0.0
    assert cfg.event_weight("rating", 1) < 0
    s = new_state("u", 4)
    update(s, rating(0, 0.0, 5), E[0], config=cfg)
    update(s, rating(1, 1.0, 1), E[1], config=cfg)
    assert s.long_term[1] < 0
    assert s.liked_items == ["0"]


def test_out_of_order_events_give_the_same_state() -> None:
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(20, 16))
    events = [Event("u", str(i), float(rng.integers(0, 30 * DAY)), "rating",
                    float(rng.integers(1, 6))) for i in range(20)]
    in_order = new_state("u", 16)
    for e in sorted(events, key=lambda e: e.timestamp):
        update(in_order, e, vecs[int(e.item_id)])
    shuffled = new_state("u", 16)
    for e in events:  # arrival order differs from time order
        update(shuffled, e, vecs[int(e.item_id)])
    np.testing.assert_allclose(shuffled.long_sum, in_order.long_sum)
    np.testing.assert_allclose(shuffled.short_sum, in_order.short_sum)
    assert shuffled.clock == in_order.clock
    assert shuffled.recent == in_order.recent  # kept in time order


def test_replaying_the_same_log_changes_nothing() -> None:
    rng = np.random.default_rng(1)
    vecs = rng.normal(size=(10, 8))
    log = [rating(i, float(t)) for i, t in enumerate(rng.integers(0, 1000, 10))]
    s = new_state("u", 8)
    assert all(update(s, e, vecs[int(e.item_id)]) for e in log)
    before = json.dumps(s.to_dict())
    assert not any(update(s, e, vecs[int(e.item_id)]) for e in log)
    assert json.dumps(s.to_dict()) == before


def test_text_on_an_event_moves_interest() -> None:
    s = new_state("u", 4)
    update(s, rating(0, 0.0), E[0])
    update(s, Event("u", None, 1.0, "search", text="space opera"), text_vector=E[3])
    assert s.long_term[3] > 0 and s.recent[-1][3] == "space opera"
    with pytest.raises(ValueError, match="neither an item vector nor a text vector"):
        update(s, Event("u", None, 2.0, "search"))


def test_recent_sequence_is_bounded() -> None:
    cfg = InterestConfig(max_recent=5)
    s = new_state("u", 4)
    for t in range(12):
        update(s, rating(t % 4, float(t)), E[t % 4], config=cfg)
    assert len(s.recent) == 5 and s.recent[-1][1] == 11.0
    assert s.n_events == 12


def test_online_clusters_separate_distinct_interests() -> None:
    s = new_state("u", 4)
    for t in range(6):
        update(s, rating(t % 2, float(t)), E[t % 2])
    assert len(s.clusters) == 2
    assert sorted(round(c.mass, 6) for c in s.clusters) == [3.0, 3.0]


def test_state_round_trips_through_json() -> None:
    s = new_state("u", 4)
    update(s, rating(0, 0.0), E[0])
    update(s, rating(2, 5.0, 4), E[2])
    back = InterestState.from_dict(json.loads(json.dumps(s.to_dict())))
    assert back.to_dict() == s.to_dict()


def test_states_stored_without_event_weights_still_load() -> None:
    s = new_state("u", 4)
    update(s, rating(0, 0.0), E[0])
    old = s.to_dict()
    old["recent"] = [r[:4] for r in old["recent"]]  # rows from before weights were kept
    assert InterestState.from_dict(old).liked_items == ["0"]
