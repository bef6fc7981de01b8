"""Event ingestion: durable, idempotent, and reflected in the very next recommendation."""

from __future__ import annotations

import numpy as np
from service_helpers import (
    count_events,
    post_events,
    synthetic_events,
    synthetic_items,
)

from driftrec.data.dataset import Dataset
from driftrec.interest.config import InterestConfig
from driftrec.interest.state import Event, InterestState, new_state, update
from driftrec.models.bundle import save_bundle
from driftrec.models.registry import create_model
from driftrec.recommend.encoding import HashingEncoder
from driftrec.service import core as service_core
from driftrec.service.core import ItemWrite
from driftrec.store import NewEvent
from driftrec.text import item_texts


def test_one_event_is_accepted_and_stored(client):
    body = post_events(client, {"user_id": "u1", "item_id": "space-0", "event_type": "click",
                                "value": 1.0, "timestamp": 1700000000, "text": None,
                                "event_id": "e-123"})
    assert body == {"accepted": 1, "duplicates": 0}
    assert count_events(client) == 1


def test_retrying_with_the_same_event_id_stores_nothing_twice(client):
    event = {"user_id": "u1", "item_id": "space-0", "event_id": "e-1"}
    assert post_events(client, event) == {"accepted": 1, "duplicates": 0}
    assert post_events(client, event, {**event, "event_id": "e-2"}) == {"accepted": 1,
                                                                       "duplicates": 1}
    assert count_events(client) == 2


def test_a_repeated_event_id_inside_one_batch_counts_once(client):
    event = {"user_id": "u1", "item_id": "space-0", "event_id": "same"}
    assert post_events(client, event, event) == {"accepted": 1, "duplicates": 1}


def test_the_same_event_id_from_two_users_keeps_both_events(client):
    assert post_events(client, {"user_id": "ann", "item_id": "space-0", "event_id": "1"},
                       {"user_id": "ben", "item_id": "space-1", "event_id": "1"}
                       ) == {"accepted": 2, "duplicates": 0}
    assert count_events(client) == 2


def test_reusing_an_event_id_for_a_different_event_is_a_409_naming_the_field(client):
    first = {"user_id": "ann", "item_id": "space-0", "timestamp": 1700000000, "event_id": "7"}
    post_events(client, first)
    reused = {**first, "item_id": "space-1"}
    response = client.post("/v1/events", json={"events": [
        {"user_id": "ann", "item_id": "space-2"}, reused]})
    assert response.status_code == 409
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["body", "events", "1", "event_id"]
    assert "already used" in detail["msg"]
    assert count_events(client) == 1  # nothing of the rejected request was stored
    assert post_events(client, first) == {"accepted": 0, "duplicates": 1}


def test_events_without_event_id_are_all_kept(client):
    event = {"user_id": "u1", "item_id": "space-0"}
    assert post_events(client, event, event)["accepted"] == 2


def test_timestamps_accept_unix_seconds_and_iso_8601(client):
    post_events(client, {"user_id": "u1", "item_id": "space-0", "timestamp": 1700000000},
                {"user_id": "u1", "item_id": "space-1", "timestamp": "2023-11-14T22:13:21Z"},
                {"user_id": "u1", "item_id": "space-2"})
    exported = client.get("/v1/users/u1/export").json()
    stamps = [e["timestamp"] for e in exported["events"]]
    assert stamps[:2] == [1700000000, 1700000001]
    assert stamps[2] > 1700000001  # defaulted to now


def test_the_next_recommendation_reflects_the_event(client):
    before = client.get("/v1/users/fresh/recommendations?k=5").json()
    assert {i["source"] for i in before["items"]} == {"popularity"}
    post_events(client, {"user_id": "fresh", "item_id": "crime-0", "event_type": "purchase"})
    after = client.get("/v1/users/fresh/recommendations?k=5").json()
    assert after["items"][0]["source"] == "itemknn"
    assert "crime-0" not in [i["item_id"] for i in after["items"]]
    crime = [i for i in after["items"] if i["item_id"].startswith("crime-")]
    assert len(crime) >= 3
    profile = client.get("/v1/users/fresh/profile").json()
    assert profile["history_length"] == 1
    assert profile["long_term_topics"][0] == "Crime"


def test_event_text_moves_interest_even_for_an_unknown_item(client):
    post_events(client, {"user_id": "searcher", "item_id": "not-in-catalogue",
                         "event_type": "search", "text": "Heist Detective Crime story"})
    profile = client.get("/v1/users/searcher/profile").json()
    assert profile["long_term_topics"][0] == "Crime"


def test_rejected_batches_name_the_field_and_lose_nothing_accepted(client):
    post_events(client, {"user_id": "u1", "item_id": "space-0", "event_id": "keep"})
    bad = [
        ({"user_id": "", "item_id": "x"}, "user_id"),
        ({"user_id": "u1"}, "item_id"),
        ({"user_id": "u1", "item_id": "x", "timestamp": "yesterday"}, "timestamp"),
        ({"user_id": "u1", "item_id": "x", "timestamp": -5}, "timestamp"),
        ({"user_id": "u1", "item_id": "x", "event_type": "DROP TABLE"}, "event_type"),
        ({"user_id": "u1", "item_id": "x", "value": "lots"}, "value"),
        ({"user_id": "u1", "item_id": "x", "colour": "red"}, "colour"),
        ({"user_id": "u" * 129, "item_id": "x"}, "user_id"),
        ({"user_id": "u1", "item_id": "x", "text": "t" * 4001}, "text"),
    ]
    for event, field in bad:
        response = client.post("/v1/events", json={"events": [event]})
        assert response.status_code == 422, (event, response.text)
        assert field in response.text, (field, response.text)
    assert client.post("/v1/events", json={"events": []}).status_code == 422
    assert client.post("/v1/events", content=b"{not json",
                       headers={"Content-Type": "application/json"}).status_code == 422
    assert count_events(client) == 1


def test_batch_and_body_limits(make_client):
    client = make_client(max_batch_events=3, max_body_bytes=2000)
    events = [{"user_id": "u1", "item_id": f"space-{i}"} for i in range(4)]
    response = client.post("/v1/events", json={"events": events})
    assert response.status_code == 413 and "events" in response.text
    big = [{"user_id": "u1", "item_id": "space-0", "text": "x" * 1500}] * 2
    response = client.post("/v1/events", json={"events": big})
    assert response.status_code == 413 and "max_body_bytes" in response.text
    assert count_events(client) == 0


def test_a_rating_without_value_is_not_read_as_one_star(client):
    post_events(client, {"user_id": "r", "item_id": "space-0", "event_type": "rating"},
                {"user_id": "r", "item_id": "crime-0", "event_type": "rating", "value": 1})
    exported = client.get("/v1/users/r/export").json()
    assert [e["value"] for e in exported["events"]] == [None, 1.0]
    profile = client.get("/v1/users/r/profile").json()
    assert profile["long_term_topics"][0] == "Sci-Fi"  # the 1-star crime rating pushes away


def test_a_chunked_body_without_length_is_cut_off_at_the_limit(make_client):
    client = make_client(max_body_bytes=1000)

    def chunks():
        yield b'{"events": [{"user_id": "u1", "item_id": "space-0", "text": "'
        for _ in range(20):
            yield b"x" * 100
        yield b'"}]}'

    response = client.post("/v1/events", content=chunks(),
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and "max_body_bytes" in response.text
    assert count_events(client) == 0
    assert 'route="/v1/events",status="413"} 1.0' in client.get("/metrics").text


def test_ingest_moves_interest_with_the_served_models_interest_config(make_client, tmp_path):
    """The stored interest state is the model's view of the user: built with the interest
    config the model was trained with, not the library default."""
    tuned = {"short_half_life_s": 60.0, "type_weights": {"click": 5.0, "view": 0.1}}
    items = synthetic_items()
    ds = Dataset.from_frames(synthetic_events(items), items)
    model = create_model("content", encoder="hashing", interest=tuned)
    model.fit(ds, item_vectors=HashingEncoder().encode(item_texts(ds.items)))
    bundle = save_bundle(model, ds, tmp_path / "content")
    client = make_client(model=bundle)
    events = [{"user_id": "u1", "item_id": f"space-{i}", "event_type": "click",
               "timestamp": 1_700_000_000 + 600 * i} for i in range(3)]
    post_events(client, *events)
    stored = client.get("/v1/users/u1/export").json()["interest_state"]

    core = client.app.state.core
    assert core.interest_config == InterestConfig.from_dict(tuned)
    expected = new_state(core.store.user_key("u1"), core.catalogue.dim)
    default = new_state(core.store.user_key("u1"), core.catalogue.dim)
    for e in events:
        event = Event(expected.user_id, e["item_id"], e["timestamp"], "click")
        vec = core.catalogue.vector(e["item_id"])
        update(expected, event, vec, None, InterestConfig.from_dict(tuned))
        update(default, event, vec, None, InterestConfig())
    state = InterestState.from_dict(stored)
    assert np.allclose(state.short_term, expected.short_term)
    assert not np.allclose(state.short_term, default.short_term)


def test_an_event_on_an_item_another_process_just_added_moves_the_interest(two_processes):
    """The writer pulls what other processes changed before it commits, so an event on an
    item written through another process moves the user's interest at once."""
    here, there = two_processes
    there.upsert_items([ItemWrite("fresh", "Deep Space Voyage", "", {})])
    assert "fresh" not in here.catalogue.pos  # nothing has told this process yet
    assert here.ingest([NewEvent("ann", "fresh", "purchase", None, 1_700_000_000)]) == (1, 0)
    state, n_events = here.store.get_state(here.store.user_key("ann"))
    assert n_events == 1
    interest = InterestState.from_dict(state)
    assert np.linalg.norm(interest.long_sum) > 0  # moved by the new item's vector


def test_the_writer_pulls_changes_older_than_its_refresh_interval(two_processes,
                                                                  monkeypatch):
    """An item another process re-embedded moves interest with its new vector once the
    writer's last pull is older than ``WRITER_REFRESH_S``, and not before."""
    here, there = two_processes

    def direction_of_interest(user: str) -> np.ndarray:
        state, _ = here.store.get_state(here.store.user_key(user))
        long_sum = InterestState.from_dict(state).long_sum
        return long_sum / np.linalg.norm(long_sum)

    there.upsert_items([ItemWrite("film", "Deep Space Voyage", "", {})])
    here.refresh()
    old = here.catalogue.vector("film").copy()
    there.upsert_items([ItemWrite("film", "Romantic Wedding Comedy", "", {})])
    new = there.catalogue.vector("film")
    assert not np.allclose(old, new)

    monkeypatch.setattr(service_core, "WRITER_REFRESH_S", 3600.0)
    here.ingest([NewEvent("ann", "film", "purchase", None, 1_700_000_000)])
    assert np.allclose(direction_of_interest("ann"), old / np.linalg.norm(old))

    monkeypatch.setattr(service_core, "WRITER_REFRESH_S", 0.0)
    here.ingest([NewEvent("ben", "film", "purchase", None, 1_700_000_000)])
    assert np.allclose(direction_of_interest("ben"), new / np.linalg.norm(new))
