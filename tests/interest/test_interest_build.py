"""Building states from a log is the same as applying ``update`` event by event."""

from __future__ import annotations

import numpy as np
import pandas as pd

from driftrec.data.dataset import Dataset, Histories
from driftrec.interest import Event, InterestTracker
from driftrec.interest.build import build_states, history_interest


def _log(seed: int = 0, n: int = 60) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    vecs = rng.normal(size=(15, 12))
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = [f"i{j}" for j in range(15)]
    events = pd.DataFrame({
        "user_id": rng.choice(["ann", "bob", "cy"], n),
        "item_id": rng.choice(ids, n),
        "timestamp": rng.integers(0, 5_000_000, n),
        "event_type": rng.choice(["view", "click", "purchase", "rating"], n),
        "value": rng.integers(1, 6, n).astype(float),
        "text": None,
    })
    return events, vecs, ids


def test_batch_build_matches_sequential_updates() -> None:
    events, vecs, ids = _log()
    batch = build_states(events, vecs, ids, clusters=False)
    tracker = InterestTracker(ids, vecs)
    for r in events.itertuples():  # file order, not time order
        tracker.apply(Event(r.user_id, r.item_id, r.timestamp, r.event_type, r.value))
    for uid, st in batch.items():
        live = tracker.states[uid]
        # the tracker stores item vectors as float32, hence the tolerance
        np.testing.assert_allclose(st.long_sum, live.long_sum, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(st.short_sum, live.short_sum, rtol=1e-5, atol=1e-6)
        assert np.isclose(st.long_mass, live.long_mass)
        assert st.clock == live.clock and st.n_events == live.n_events
        assert [r[:3] for r in st.recent] == [r[:3] for r in live.recent]


def test_search_text_in_the_log_is_encoded() -> None:
    events, vecs, ids = _log(n=5)
    query = pd.DataFrame({"user_id": ["ann"], "item_id": [None], "timestamp": [9_000_000],
                          "event_type": ["search"], "value": [1.0], "text": ["robots"]})
    events = pd.concat([events, query], ignore_index=True)
    robot = np.zeros(12)
    robot[0] = 1.0
    states = build_states(events, vecs, ids, text_vectors=lambda t: np.tile(robot, (len(t), 1)))
    assert states["ann"].short_term[0] > 0.9  # the query is the latest thing ann did


def test_history_interest_matches_build_states() -> None:
    events, vecs, ids = _log(2)
    ds = Dataset.from_frames(events.drop(columns="text"),
                             pd.DataFrame({"item_id": ids}))
    h = Histories.from_events(ds.events)
    m = history_interest(h, vecs[ds.item_index(ids).argsort()])
    states = build_states(events, vecs, ids, clusters=False)
    for row, u in enumerate(h.users):
        uid = ds.user_ids[u]
        np.testing.assert_allclose(m.long_sum[row], states[uid].long_sum, atol=1e-9)
        assert np.isclose(m.drift[row], states[uid].drift)


def test_build_is_deterministic_with_clusters() -> None:
    events, vecs, ids = _log(3, n=200)
    a = build_states(events, vecs, ids, seed=7)
    b = build_states(events, vecs, ids, seed=7)
    assert {u: s.to_dict() for u, s in a.items()} == {u: s.to_dict() for u, s in b.items()}


def test_items_added_to_the_tracker_count_at_once() -> None:
    _, vecs, ids = _log()
    tracker = InterestTracker(ids, vecs)
    fresh = np.zeros((1, 12))
    fresh[0, 3] = 1.0
    tracker.add_items(["brand-new"], vectors=fresh)
    assert tracker.apply(Event("ann", "brand-new", 10.0, "purchase"))
    np.testing.assert_allclose(tracker.state("ann").long_term, fresh[0])
    assert not tracker.apply(Event("ann", "never-heard-of", 11.0, "view"))
