"""Per-user endpoints: profile, interest over time, export and erasure."""

from __future__ import annotations

from service_helpers import count_rows, post_events
from sqlalchemy import select

from driftrec.store import tables


def watch(client, user: str, items: list[str], start: int = 1_700_000_000, step: int = 3600):
    post_events(client, *[{"user_id": user, "item_id": item, "timestamp": start + i * step,
                           "event_type": "view", "event_id": f"{user}-{i}"}
                          for i, item in enumerate(items)])


def test_profile_shows_topics_clusters_and_drift(client):
    watch(client, "gil", [f"space-{i}" for i in range(5)] + [f"comedy-{i}" for i in range(4)],
          step=12 * 3600)
    p = client.get("/v1/users/gil/profile").json()
    assert p["user_id"] == "gil"
    assert p["history_length"] == 9
    assert p["long_term_topics"][:2] == ["Sci-Fi", "Comedy"] or \
        set(p["long_term_topics"][:2]) == {"Sci-Fi", "Comedy"}
    assert p["short_term_topics"][0] == "Comedy"  # the recent switch
    assert p["drift"] > 0
    labels = " ".join(c["label"] for c in p["clusters"])
    assert "Sci-Fi" in labels and "Comedy" in labels
    assert "segment" in p


def test_profile_of_an_unknown_user_is_empty(client):
    p = client.get("/v1/users/ghost/profile").json()
    assert p["history_length"] == 0 and p["clusters"] == [] and p["long_term_topics"] == []


def test_interest_history_has_one_point_per_event_with_rising_drift(client):
    watch(client, "hal", ["crime-0", "crime-1", "crime-2", "romance-0", "romance-1"],
          step=86400)
    points = client.get("/v1/users/hal/interest-history").json()["points"]
    assert [p["item_id"] for p in points] == ["crime-0", "crime-1", "crime-2", "romance-0",
                                              "romance-1"]
    assert points[0]["drift"] == 0.0
    assert points[-1]["drift"] > points[2]["drift"]
    assert points[0]["short_term_topic"] == "Crime"
    assert points[-1]["short_term_topic"] == "Romance"
    assert isinstance(points[-1]["short_term"]["x"], float)
    assert len(client.get("/v1/users/hal/interest-history?limit=2").json()["points"]) == 2


def test_export_returns_everything_stored_about_the_user(client):
    watch(client, "ida", ["space-0", "space-1"])
    post_events(client, {"user_id": "ida", "item_id": "x", "event_type": "review",
                         "text": "loved the rockets"})
    body = client.get("/v1/users/ida/export").json()
    assert body["user_id"] == "ida"
    assert [e["item_id"] for e in body["events"]][:2] == ["space-0", "space-1"]
    assert body["events"][-1]["text"] == "loved the rockets"
    assert body["n_events"] == 3
    assert body["interest_state"]["n_events"] == 3
    assert "ida" not in str(body["interest_state"])


def test_delete_erases_events_and_state_in_the_database(client):
    watch(client, "jon", ["space-0", "space-1", "space-2"])
    watch(client, "kim", ["crime-0"])
    key = client.app.state.core.store.user_key("jon")
    response = client.delete("/v1/users/jon")
    assert response.json() == {"user_id": "jon", "events_deleted": 3, "state_deleted": True}
    store = client.app.state.core.store
    with store.engine.connect() as conn:
        for table in (tables.events, tables.user_state):
            rows = conn.execute(select(table).where(table.c.user_key == key)).all()
            assert rows == []
    assert count_rows(client, tables.events) == 1  # kim's event stays
    assert client.get("/v1/users/jon/export").json()["events"] == []
    assert client.get("/v1/users/jon/profile").json()["history_length"] == 0
    recs = client.get("/v1/users/jon/recommendations?k=3").json()["items"]
    assert {i["source"] for i in recs} == {"popularity"}
    # a retry of an erased event (same id, same payload) is stored again: its key, which
    # would have made it a duplicate, went with the erasure
    assert post_events(client, {"user_id": "jon", "item_id": "space-0", "event_type": "view",
                                "timestamp": 1_700_000_000, "event_id": "jon-0"}
                       ) == {"accepted": 1, "duplicates": 0}
