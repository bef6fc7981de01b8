"""User segments: built from stored interest, shown in profiles, used for thin histories."""

from __future__ import annotations

from service_helpers import post_events


def populate(client) -> None:
    for u in range(12):
        topic = "space" if u % 2 else "romance"
        post_events(client, *[{"user_id": f"seg{u}", "item_id": f"{topic}-{(u + j) % 8}",
                               "timestamp": 1000 + j} for j in range(4)])


def test_segments_overview_profile_and_segment_popularity(client):
    assert client.get("/v1/segments").json()["segments"] == []  # too few users yet
    populate(client)
    built = client.post("/v1/admin/segments/rebuild").json()
    assert built["k"] >= 2
    labels = [s["label"] for s in built["segments"]]
    assert any("Sci-Fi" in label for label in labels)
    assert any("Romance" in label for label in labels)
    assert sum(s["users"] for s in built["segments"]) == 12
    assert client.get("/v1/segments").json()["segments"] == built["segments"]

    profile = client.get("/v1/users/seg1/profile").json()
    assert "Sci-Fi" in profile["segment"]["label"]

    # a user known only from a search the model cannot use: interest transfers from
    # the segment that search places them in
    post_events(client, {"user_id": "searcher", "item_id": "query", "event_type": "search",
                         "text": "Star Galaxy Orbit Sci-Fi story"})
    items = client.get("/v1/users/searcher/recommendations?k=10").json()["items"]
    from_segment = [i for i in items if i["source"] == "segment"]
    assert from_segment
    assert from_segment[0]["reasons"][0].startswith("popular in your segment (")
    assert all(i["item_id"].startswith("space-") for i in from_segment)


def test_an_erased_user_leaves_the_segments(client):
    populate(client)
    before = client.post("/v1/admin/segments/rebuild").json()
    assert sum(s["users"] for s in before["segments"]) == 12
    core = client.app.state.core
    client.delete("/v1/users/seg3")
    core.segments.join(60)  # the next version is made in the background
    after = client.get("/v1/segments").json()
    assert after["version"] > before["version"]
    assert sum(s["users"] for s in after["segments"]) == 11
    # same segments (ids and k kept), sizes recomputed without the erased user
    assert [s["id"] for s in after["segments"]] == [s["id"] for s in before["segments"]]


def test_erasures_in_a_row_then_a_rebuild_all_finish(client):
    """Chained background versions after several erasures never wait on each other."""
    import threading

    populate(client)
    client.post("/v1/admin/segments/rebuild")
    for u in (1, 2, 3, 4):
        client.delete(f"/v1/users/seg{u}")
    done = threading.Event()

    def rebuild() -> None:
        client.post("/v1/admin/segments/rebuild")
        done.set()

    threading.Thread(target=rebuild, daemon=True).start()
    assert done.wait(120), "the rebuild waited forever on the background versions"
    client.app.state.core.segments.join(120)
    assert sum(s["users"] for s in client.get("/v1/segments").json()["segments"]) == 8


def test_a_user_held_in_memory_is_placed_once_per_segments_version(client, monkeypatch):
    populate(client)
    client.post("/v1/admin/segments/rebuild")
    core = client.app.state.core
    segments_type = type(core.segments.get())
    placed = []
    assign = segments_type.assign
    monkeypatch.setattr(segments_type, "assign",
                        lambda self, vector: placed.append(self.version) or assign(self, vector))
    for _ in range(3):
        assert client.get("/v1/users/seg1/recommendations?k=5").status_code == 200
    assert len(placed) == 1  # the context is held in memory: placed once
    core.segments.join(60)
    core.segments.rebuild("follow")  # a new version places the user again
    client.get("/v1/users/seg1/recommendations?k=5")
    assert len(placed) == 2 and placed[1] > placed[0]
    post_events(client, {"user_id": "seg1", "item_id": "space-3"})  # a new context
    client.get("/v1/users/seg1/recommendations?k=5")
    assert len(placed) == 3
