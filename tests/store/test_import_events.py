"""``Store.import_events``: bulk writes of events and states, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from driftrec.store import EventIdConflict, NewEvent, Store


def ev(user: str, item: str, ts: int = 1, event_id: str | None = None) -> NewEvent:
    return NewEvent(user, item, "click", 1.0, ts, None, event_id)


def counting(key, state, new):
    """A state updater that counts events and remembers their items."""
    state = state or {"n": 0, "items": []}
    return {"n": state["n"] + len(new), "items": state["items"] + [e.item_id for e in new]}


def test_import_stores_events_and_states_in_batches_of_whole_users(store_url):
    store = Store(store_url, "secret")
    users = [("u1", [ev("u1", "a", 1), ev("u1", "b", 2), ev("u1", "c", 3)]),
             ("u2", [ev("u2", "a", 5)]),
             ("u3", [ev("u3", "c", 1), ev("u3", "d", 2)])]
    batches = []
    counts = store.import_events(iter(users), counting, batch_rows=2,
                                 on_batch=lambda c: batches.append(c.events))
    # u1 (3 events) fills a batch alone; u2 and u3 share the next one
    assert batches == [3, 6] and counts.batches == 2
    assert (counts.events, counts.users, counts.duplicates) == (6, 3, 0)
    key = store.user_key("u1")
    assert [e.item_id for e in store.user_events(key)] == ["a", "b", "c"]
    assert store.get_state(key) == ({"n": 3, "items": ["a", "b", "c"]}, 3)
    assert store.get_state(store.user_key("u3")) == ({"n": 2, "items": ["c", "d"]}, 2)
    assert store.count_events() == 6


def test_import_continues_from_the_stored_state(store_url):
    store = Store(store_url, "secret")
    store.add_events([ev("u1", "a", 1)], counting)
    store.import_events([("u1", [ev("u1", "b", 2)])], counting)
    assert store.get_state(store.user_key("u1")) == ({"n": 2, "items": ["a", "b"]}, 2)


def test_reimport_with_event_ids_adds_nothing(store_url):
    store = Store(store_url, "secret")
    store.add_events([ev("u1", "a", 1, event_id="e1")], counting)  # posted live before
    users = [("u1", [ev("u1", "a", 1, "e1"), ev("u1", "b", 2, "e2"), ev("u1", "b", 2, "e2")]),
             ("u2", [ev("u2", "a", 1, "e1")])]
    first = store.import_events(users, counting)
    assert (first.events, first.duplicates, first.users) == (2, 2, 2)
    again = store.import_events(users, counting)
    assert (again.events, again.duplicates, again.users) == (0, 4, 0)
    assert store.count_events() == 3
    assert store.get_state(store.user_key("u1")) == ({"n": 2, "items": ["a", "b"]}, 2)


def test_events_without_ids_are_stored_again_unless_existing_users_are_skipped(store_url):
    store = Store(store_url, "secret")
    users = [("u1", [ev("u1", "a", 1)])]
    store.import_events(users, counting)
    store.import_events(users, counting)  # no idempotency key: stored twice
    assert store.get_state(store.user_key("u1"))[1] == 2
    counts = store.import_events([*users, ("u2", [ev("u2", "b")])], counting,
                                 skip_existing_users=True)
    assert (counts.events, counts.skipped_users, counts.skipped_events) == (1, 1, 1)
    assert store.get_state(store.user_key("u1"))[1] == 2
    assert store.get_state(store.user_key("u2"))[1] == 1


def test_a_reused_event_id_rolls_back_its_batch_only(store_url):
    store = Store(store_url, "secret")
    store.add_events([ev("u2", "a", 1, event_id="e1")], counting)
    users = [("u1", [ev("u1", "a", 1, "e1")]),
             ("u2", [ev("u2", "z", 1), ev("u2", "b", 9, "e1")])]  # e1 named "a" before
    with pytest.raises(EventIdConflict) as caught:
        store.import_events(users, counting, batch_rows=1)
    assert caught.value.index == 2  # counted over all imported events
    assert store.get_state(store.user_key("u1"))[1] == 1  # the first batch stays
    assert [e.item_id for e in store.user_events(store.user_key("u2"))] == ["a"]
    assert store.get_state(store.user_key("u2")) == ({"n": 1, "items": ["a"]}, 1)
