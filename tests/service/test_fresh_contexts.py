"""A request reads nothing from the store while the store's change count says nothing
changed (SQLite), and reads again as soon as any process wrote anything."""

from __future__ import annotations

import pytest

from driftrec.service.core import ItemWrite, ServiceCore
from driftrec.store import NewEvent

ITEMS = [ItemWrite(f"film-{i}", f"Deep Space Voyage {i}", "", {}) for i in range(8)]


@pytest.fixture(autouse=True)
def catalogue(two_processes) -> None:
    """Items to recommend, written through the first process."""
    two_processes[0].upsert_items(ITEMS)


def count_reads(core: ServiceCore, monkeypatch) -> list[str]:
    """Record every per-request read of the shared values and a user's revision."""
    reads: list[str] = []
    read = core.store.meta_and_revision
    monkeypatch.setattr(core.store, "meta_and_revision",
                        lambda key: reads.append(key) or read(key))
    return reads


def serve(core: ServiceCore, user: str) -> list[str]:
    """What ``GET /v1/users/{user}/recommendations`` does, without HTTP; then waits for
    the segment check a request may start in the background (it writes to the store)."""
    key = core.store.user_key(user)
    listed = core.engine.recommend(key, 8, revision=core.refresh_for(key))
    core.segments.join()
    return [r.item_id for r in listed]


def test_a_held_user_is_served_without_a_read_until_something_changes(two_processes,
                                                                      monkeypatch):
    here, _ = two_processes
    here.ingest([NewEvent("ann", "film-1", "purchase", None, 1_700_000_000)])
    serve(here, "ann")  # its segment check wrote to the store:
    serve(here, "ann")  # so this request read again
    reads = count_reads(here, monkeypatch)
    key = here.store.user_key("ann")

    for _ in range(3):
        assert here.refresh_for(key) == here.store.user_revision(key)
    assert reads == []

    # a served list is written, but changes nothing a context or the shared values hold
    here.record_impression(key, here.engine.recommend(key, 3))
    here.writer.flush()
    assert here.refresh_for(key) == here.store.user_revision(key)
    assert reads == []


def test_the_users_own_event_through_this_process_needs_no_read(two_processes, monkeypatch):
    here, _ = two_processes
    here.ingest([NewEvent("ann", "film-1", "purchase", None, 1_700_000_000)])
    serve(here, "ann")
    serve(here, "ann")
    reads = count_reads(here, monkeypatch)

    here.ingest([NewEvent("ann", "film-2", "purchase", None, 1_700_000_100)])
    listed = serve(here, "ann")

    assert reads == []
    assert "film-2" not in listed and "film-1" not in listed  # the new event is in it
    ctx = here.engine.user_context(here.store.user_key("ann"))
    assert ctx.revision == here.store.user_revision(here.store.user_key("ann"))


def test_a_write_through_another_process_is_read_by_the_next_request(two_processes,
                                                                     monkeypatch):
    here, there = two_processes
    here.ingest([NewEvent("ann", "film-1", "purchase", None, 1_700_000_000)])
    assert "film-3" in serve(here, "ann")
    reads = count_reads(here, monkeypatch)

    there.ingest([NewEvent("ann", "film-3", "purchase", None, 1_700_000_100)])
    assert "film-3" not in serve(here, "ann")  # seen now: the other process's event
    assert reads == [here.store.user_key("ann")]

    there.upsert_items([ItemWrite("film-new", "Deep Space Voyage Returns", "", {})])
    serve(here, "ann")
    assert "film-new" in here.catalogue.pos  # the shared item sequence was read again
    assert len(reads) == 2


def test_an_event_of_another_user_elsewhere_makes_every_held_user_read_again(
        two_processes, monkeypatch):
    """The count says that something changed, not what: every held user is checked."""
    here, there = two_processes
    here.ingest([NewEvent("ann", "film-1", "purchase", None, 1_700_000_000)])
    serve(here, "ann")
    reads = count_reads(here, monkeypatch)

    there.ingest([NewEvent("bob", "film-2", "purchase", None, 1_700_000_000)])
    serve(here, "ann")
    serve(here, "ann")
    assert reads == [here.store.user_key("ann")]  # once, then current again
