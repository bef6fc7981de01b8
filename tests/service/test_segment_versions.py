"""One shared segmentation: every process serves the newest stored version; one makes it."""

from __future__ import annotations

from service_helpers import post_events

from driftrec.store import segmentations as stored


def populate(client) -> None:
    for u in range(12):
        topic = "space" if u % 2 else "romance"
        post_events(client, *[{"user_id": f"seg{u}", "item_id": f"{topic}-{(u + j) % 8}",
                               "timestamp": 1000 + j} for j in range(4)])


def test_two_services_on_one_database_serve_the_same_version(make_client):
    a, b = make_client(), make_client()
    populate(a)
    built = a.post("/v1/admin/segments/rebuild").json()
    assert built["version"] >= 1 and built["k"] >= 2
    seen = b.get("/v1/segments").json()  # B never built anything: it loads A's version
    assert seen["version"] == built["version"]
    assert seen["segments"] == built["segments"]
    # the same user lands in the same segment through either service
    pa = a.get("/v1/users/seg1/profile").json()["segment"]
    pb = b.get("/v1/users/seg1/profile").json()["segment"]
    assert pa == pb and pa is not None

    # B makes the next version (centroids follow the users); A picks it up, ids kept
    core_a, core_b = a.app.state.core, b.app.state.core
    core_b.segments.join(60)
    core_b.segments.rebuild("follow")
    nxt = core_b.segments.current
    assert nxt.version > built["version"] and nxt.kind == "follow"
    core_a.segments.join(60)
    core_a.segments.load()
    assert core_a.segments.current.version == nxt.version
    assert sorted(core_a.segments.current.ids) == sorted(s["id"] for s in built["segments"])
    history = core_a.segments.history()
    assert {h["version"] for h in history} >= {built["version"], nxt.version}


def test_only_one_process_wins_the_next_version(make_client):
    a, b = make_client(), make_client()
    store_a, store_b = a.app.state.core.store, b.app.state.core.store
    for core in (a.app.state.core, b.app.state.core):
        core.segments.close()  # no background work during the race below
    first = stored.claim(store_a, stale_after_s=600, build_timeout_s=900, now=1000.0)
    assert first is not None
    # a claim is open: nobody else starts the same work
    assert stored.claim(store_b, stale_after_s=600, build_timeout_s=900, now=1001.0) is None
    # once it is older than the build timeout (its process died) it is passed over
    second = stored.claim(store_b, stale_after_s=600, build_timeout_s=900, now=2000.0)
    assert second == first + 1
    stored.abandon(store_a, first)
    stored.abandon(store_b, second)
    assert stored.load(store_a) is None
