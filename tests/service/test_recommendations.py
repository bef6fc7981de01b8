"""Recommendations: sources, reasons, filters, diversity, new items and free-text queries."""

from __future__ import annotations

import numpy as np
from service_helpers import post_events, synthetic_events

from driftrec.recommend.diversity import intra_list_diversity


def item_ids(body: dict) -> list[str]:
    return [i["item_id"] for i in body["items"]]


def test_a_fresh_service_starts_from_the_training_popularity(client, items_frame):
    items = items_frame["item_id"].tolist()
    train = synthetic_events(items_frame)["item_id"].value_counts()
    top = max(items, key=lambda i: (train.get(i, 0), -items.index(i)))
    body = client.get("/v1/users/nobody/recommendations?k=3").json()
    assert body["items"][0]["item_id"] == top
    assert body["items"][0]["source"] == "popularity"


def test_unknown_user_gets_popular_items(client):
    for u in range(30):
        post_events(client, {"user_id": f"fan{u}", "item_id": "comedy-3"})
    body = client.get("/v1/users/nobody/recommendations?k=3").json()
    assert body["user_id"] == "nobody"
    assert body["model_version"].startswith("itemknn-")
    assert body["items"][0]["item_id"] == "comedy-3"
    assert body["items"][0]["source"] == "popularity"
    assert body["items"][0]["reasons"] == ["popular with other users"]


def test_known_user_gets_model_items_with_reasons_naming_their_history(client):
    post_events(client,
                {"user_id": "ann", "item_id": "space-0", "event_type": "rating", "value": 5,
                 "timestamp": 100},
                {"user_id": "ann", "item_id": "space-1", "event_type": "rating", "value": 5,
                 "timestamp": 200})
    body = client.get("/v1/users/ann/recommendations?k=5&explain=true").json()
    top = body["items"][0]
    assert top["source"] == "itemknn"
    assert top["item_id"].startswith("space-")
    assert top["reasons"][0].startswith("because you recently rated ")
    assert "Star (Sci-Fi story)" in top["reasons"][0] or "Galaxy" in top["reasons"][0]
    scores = [i["score"] for i in body["items"]]
    assert scores == sorted(scores, reverse=True)
    quiet = client.get("/v1/users/ann/recommendations?k=5&explain=false").json()
    assert all(i["reasons"] == [] for i in quiet["items"])


def test_seen_items_are_left_out_unless_asked(client):
    post_events(client, {"user_id": "bo", "item_id": "romance-0"},
                {"user_id": "bo", "item_id": "romance-1"})
    default = item_ids(client.get("/v1/users/bo/recommendations?k=32").json())
    assert not {"romance-0", "romance-1"} & set(default)
    everything = item_ids(
        client.get("/v1/users/bo/recommendations?k=32&exclude_seen=false").json())
    assert {"romance-0", "romance-1"} <= set(everything)


def test_hidden_items_are_never_recommended(client):
    post_events(client, {"user_id": "cy", "item_id": "crime-0"})
    first = item_ids(client.get("/v1/users/cy/recommendations?k=3").json())[0]
    assert client.delete(f"/v1/items/{first}").json()["hidden"] is True
    assert first not in item_ids(client.get("/v1/users/cy/recommendations?k=31").json())
    assert first not in item_ids(client.post("/v1/recommendations/query",
                                             json={"query": "crime", "k": 31}).json())


def test_diversity_spreads_the_list_over_topics(client):
    post_events(client, *[{"user_id": "dee", "item_id": f"space-{i}"} for i in range(3)])
    core = client.app.state.core

    def spread(diversity: float) -> float:
        ids = item_ids(client.get(
            f"/v1/users/dee/recommendations?k=6&diversity={diversity}").json())
        return intra_list_diversity(np.stack([core.catalogue.vector(i) for i in ids]))

    assert spread(0.9) > spread(0.0)


def test_a_new_item_is_recommendable_at_once(client):
    post_events(client, {"user_id": "eve", "item_id": "space-0"},
                {"user_id": "eve", "item_id": "space-1"})
    response = client.put("/v1/items/space-new", json={
        "title": "Star Galaxy Orbit", "text": "Nebula Rocket Comet Moon Planet",
        "attributes": {"genres": "Sci-Fi"}})
    assert response.status_code == 200, response.text
    body = client.get("/v1/users/eve/recommendations?k=32").json()
    new = [i for i in body["items"] if i["item_id"] == "space-new"]
    assert new and new[0]["source"] == "content"
    assert new[0]["reasons"][0].startswith("new item similar to your interest in ")


def test_the_served_items_share_the_catalogues_vectors_and_follow_a_re_embedding(client):
    """Every served item is a catalogue item here, so the universe holds the catalogue's
    own vector rows (no copy: 2 GB at a million 512-d items); a re-embedded item shows
    its new vector in the next universe."""
    core = client.app.state.core
    before = core.engine.universe()
    assert len(before.ids) == len(core.catalogue)
    assert np.shares_memory(before.vectors, core.catalogue.vectors)

    old = core.catalogue.vector("space-0").copy()
    client.put("/v1/items/space-0", json={"title": "Romantic Wedding Comedy"})
    after = core.engine.universe()
    assert after is not before
    assert not np.allclose(after.vectors[after.pos["space-0"]], old)
    assert np.array_equal(after.vectors[after.pos["space-0"]], core.catalogue.vector("space-0"))


def test_free_text_query_finds_matching_items_and_can_be_personalised(client):
    body = client.post("/v1/recommendations/query",
                       json={"query": "a detective heist crime story", "k": 3}).json()
    assert body["user_id"] is None
    assert all(i["item_id"].startswith("crime-") for i in body["items"])
    assert body["items"][0]["source"] == "query"
    assert body["items"][0]["reasons"][0] == 'matches your search "a detective heist crime story"'
    post_events(client, {"user_id": "fay", "item_id": "crime-1"})
    mine = client.post("/v1/recommendations/query", json={
        "query": "Heist", "user_id": "fay", "k": 5}).json()
    assert mine["user_id"] == "fay"
    assert "crime-1" not in item_ids(mine)


def test_bad_parameters_are_rejected_naming_the_parameter(client):
    for query, name in [("k=0", "k"), ("k=100000", "k"), ("k=201", "k"), ("k=ten", "k"),
                        ("diversity=1.5", "diversity"), ("diversity=-1", "diversity"),
                        ("exclude_seen=maybe", "exclude_seen")]:
        response = client.get(f"/v1/users/u1/recommendations?{query}")
        assert response.status_code == 422, (query, response.text)
        assert name in response.text
    response = client.post("/v1/recommendations/query", json={"query": ""})
    assert response.status_code == 422 and "query" in response.text


def test_a_service_without_model_or_items_answers_empty_lists(make_client):
    client = make_client(model=None)
    assert client.get("/v1/users/u/recommendations").json()["items"] == []
    post_events(client, {"user_id": "u", "item_id": "not-yet-in-catalogue"})
    body = client.get("/v1/users/u/recommendations").json()
    assert body == {"user_id": "u", "model_version": "none", "items": [],
                    "recommendation_id": None}  # an empty list is not an impression
    assert client.post("/v1/recommendations/query", json={"query": "x"}).json()["items"] == []
    assert client.get("/v1/users/u/profile").json()["history_length"] == 1
    assert client.get("/v1/users/u/interest-history").json()["points"][0]["drift"] == 0.0
    client.put("/v1/items/first", json={"title": "The first item"})
    assert [i["item_id"] for i in
            client.get("/v1/users/u/recommendations").json()["items"]] == ["first"]


def test_an_event_moves_the_users_context_in_memory_to_what_the_store_holds(client):
    """After its own event commit, a process holds the user's new context without reading
    it back; that context is the one the store would give (events, state, seen, count)."""
    core = client.app.state.core
    post_events(client, *[{"user_id": "mover", "item_id": f"space-{j}", "timestamp": 100 + j}
                          for j in range(4)])
    key = core.store.user_key("mover")
    client.get("/v1/users/mover/recommendations?k=5")  # the context is now in memory
    post_events(client, {"user_id": "mover", "item_id": "crime-1", "timestamp": 200},
                {"user_id": "mover", "item_id": "crime-2", "timestamp": 50})  # one late
    held = core.engine.contexts._entries[key]
    hits = core.engine.contexts.hits
    assert core.engine.user_context(key) is held and core.engine.contexts.hits == hits + 1
    core.engine.contexts.invalidate(key)
    fresh = core.engine.user_context(key)
    assert held.revision == fresh.revision and held.n_events == fresh.n_events == 6
    assert held.events == fresh.events and held.seen == fresh.seen
    assert held.state.to_dict() == fresh.state.to_dict()
