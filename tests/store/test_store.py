"""The storage interface on both backends: events, states, items, meta, migrations."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from sqlalchemy import event, func, inspect, select

from driftrec.store import EventIdConflict, ItemRecord, NewEvent, Store, tables
from driftrec.store import feedback as feedback_store
from driftrec.store.engine import StoreConfigError, make_engine
from driftrec.store.feedback import (
    Impression,
    due_impressions,
    impression_row,
    new_recommendation_id,
    prune_impressions,
)
from driftrec.store.migrations import LATEST_VERSION, current_version, migrate


def ev(user: str, item: str, ts: int = 1, event_id: str | None = None) -> NewEvent:
    return NewEvent(user, item, "click", 1.0, ts, None, event_id)


def counting(key, state, new):
    """A state updater that counts events and remembers their items."""
    state = state or {"n": 0, "items": []}
    return {"n": state["n"] + len(new), "items": state["items"] + [e.item_id for e in new]}


def test_events_and_state_are_written_together(store_url):
    store = Store(store_url, "secret")
    assert store.add_events([ev("u1", "a", 2), ev("u1", "b", 1), ev("u2", "a")],
                            counting) == (3, 0)
    key = store.user_key("u1")
    assert [e.item_id for e in store.user_events(key)] == ["b", "a"]  # time order
    assert [e.item_id for e in store.user_events(key, limit=1)] == ["a"]  # most recent
    state, n = store.get_state(key)
    assert state == {"n": 2, "items": ["a", "b"]} and n == 2
    assert store.seen_items(key) == {"a", "b"}
    assert store.item_popularity() == {"a": 2, "b": 1}
    assert store.get_state(store.user_key("nobody")) == (None, 0)


def test_event_ids_make_writes_idempotent(store_url):
    store = Store(store_url, "secret")
    assert store.add_events([ev("u1", "a", event_id="e1")], counting) == (1, 0)
    assert store.add_events([ev("u1", "a", event_id="e1"), ev("u1", "b", event_id="e2")],
                            counting) == (1, 1)
    assert store.get_state(store.user_key("u1"))[0]["n"] == 2


def test_event_ids_are_scoped_to_the_user(store_url):
    """Clients number events per user or per device: the same id from two users is two
    events, never a duplicate."""
    store = Store(store_url, "secret")
    assert store.add_events([ev("alice", "a", event_id="1")], counting) == (1, 0)
    assert store.add_events([ev("bob", "a", event_id="1")], counting) == (1, 0)
    assert store.count_events() == 2
    assert store.get_state(store.user_key("bob"))[0]["n"] == 1


def test_reusing_an_event_id_for_another_event_is_a_conflict_that_stores_nothing(store_url):
    store = Store(store_url, "secret")
    store.add_events([ev("u1", "a", ts=5, event_id="e1")], counting)
    with pytest.raises(EventIdConflict) as caught:
        store.add_events([ev("u1", "c", event_id="e9"), ev("u1", "b", ts=5, event_id="e1")],
                         counting)
    assert caught.value.index == 1 and caught.value.event_id == "e1"
    assert store.count_events() == 1  # e9 was not stored either: the request is atomic
    assert store.get_state(store.user_key("u1"))[0]["n"] == 1
    # the same payload again is a retry, however often it comes
    assert store.add_events([ev("u1", "a", ts=5, event_id="e1")], counting) == (0, 1)


def test_a_server_filled_timestamp_does_not_make_a_retry_a_conflict(store_url):
    store = Store(store_url, "secret")
    first = NewEvent("u1", "a", "click", None, 100, None, "e1", client_timestamp=False)
    retry = NewEvent("u1", "a", "click", None, 160, None, "e1", client_timestamp=False)
    assert store.add_events([first], counting) == (1, 0)
    assert store.add_events([retry], counting) == (0, 1)


def test_group_commit_keeps_other_groups_when_one_reuses_an_id(store_url):
    store = Store(store_url, "secret")
    store.add_events([ev("u1", "a", event_id="e1")], counting)
    outcomes = store.add_event_groups(
        [[ev("u2", "x")], [ev("u1", "other", event_id="e1"), ev("u1", "y")],
         [ev("u1", "a", event_id="e1"), ev("u3", "z", event_id="e1")]], counting)
    assert outcomes[0] == (1, 0)
    assert isinstance(outcomes[1], EventIdConflict) and outcomes[1].index == 0
    assert outcomes[2] == (1, 1)
    assert store.count_events() == 3
    assert store.seen_items(store.user_key("u1")) == {"a"}


def test_a_commit_of_events_that_all_carry_ids_inserts_them_together(store_url):
    """Events that all carry an ``event_id`` are inserted by one statement a commit: each
    is still stored once and in the order given, and a reused id is still a conflict."""
    store = Store(store_url, "secret")
    store.add_events([ev("u1", "a", event_id="e1")], counting)
    inserts = []
    event.listen(store.engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *_: inserts.append(statement)
                 if statement.startswith("INSERT INTO events") else None)
    outcomes = store.add_event_groups(
        [[ev("u2", "p", ts=7, event_id="1"), ev("u2", "q", ts=7, event_id="2")],
         # retries: of a stored event, and of one earlier in this commit
         [ev("u1", "a", event_id="e1"), ev("u2", "p", ts=7, event_id="1")],
         # an id this commit stored already, for another event
         [ev("u2", "other", ts=7, event_id="2")],
         [ev("u2", "r", ts=7, event_id="3")]], counting)
    assert outcomes[0] == (2, 0) and outcomes[1] == (0, 2) and outcomes[3] == (1, 0)
    assert isinstance(outcomes[2], EventIdConflict) and outcomes[2].index == 0
    assert len(inserts) == 2  # the first attempt and its redo without the conflict
    key = store.user_key("u2")
    assert [e.item_id for e in store.user_events(key)] == ["p", "q", "r"]
    assert store.get_state(key) == ({"n": 3, "items": ["p", "q", "r"]}, 3)
    assert store.count_events() == 4


def test_a_commit_of_events_without_ids_keeps_their_order(store_url):
    """Events without an ``event_id`` (nothing to conflict on) are inserted together where
    the database returns their ids in order (PostgreSQL: one statement, not a round trip
    each); every event is stored, with ids in the order given across requests and users."""
    store = Store(store_url, "secret")
    inserts = []
    event.listen(store.engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *_: inserts.append(statement)
                 if statement.startswith("INSERT INTO events") else None)
    written = {}
    outcomes = store.add_event_groups(
        [[ev("u1", "a", ts=5), ev("u2", "x", ts=5), ev("u1", "b", ts=5)],
         [ev("u1", "c", ts=5), ev("u2", "y", ts=5)]], counting, (), written)
    assert outcomes == [(3, 0), (2, 0)]
    assert len(inserts) == (1 if store.dialect == "postgresql" else 5)
    stored = {u: store.user_events(store.user_key(u)) for u in ("u1", "u2")}
    assert [e.item_id for e in stored["u1"]] == ["a", "b", "c"]
    assert [e.item_id for e in stored["u2"]] == ["x", "y"]
    ids = {e.item_id: e.seq for events in stored.values() for e in events}
    assert [ids[i] for i in "axbcy"] == sorted(ids.values())  # the order given
    # what the commit reports (a process's in-memory contexts are advanced from it)
    # names each event's own id
    assert {e.item_id: e.seq for w in written.values() for e in w.events} == ids
    assert store.get_state(store.user_key("u1")) == ({"n": 3, "items": ["a", "b", "c"]}, 3)


def test_keys_written_by_schema_version_1_still_catch_retries(tmp_path):
    """A database from before per-user keys: its events' retries stay duplicates."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    store = Store(url, "secret")
    key = store.user_key("u1")
    with store.engine.begin() as conn:  # what version 1 wrote: unscoped key, no fingerprint
        conn.execute(tables.events.insert().values(
            event_key=store.ids.legacy_event_key("old-1"), user_key=key, item_id="a",
            event_type="click", value=1.0, ts=1, received_at=1))
        conn.execute(tables.schema_version.delete().where(
            tables.schema_version.c.version >= 2))
    store.close()
    reopened = Store(url, "secret")
    assert reopened.add_events([ev("u1", "a", event_id="old-1")], counting) == (0, 1)
    assert reopened.add_events([ev("u2", "a", event_id="old-1")], counting) == (1, 0)


def test_a_failing_state_update_rolls_back_the_events(store_url):
    store = Store(store_url, "secret")

    def broken(key, state, new):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        store.add_events([ev("u1", "a", event_id="x")], broken)
    assert store.count_events() == 0
    assert store.add_events([ev("u1", "a", event_id="x")], counting) == (1, 0)


def test_concurrent_writers_lose_no_state_update(store_url):
    store = Store(store_url, "secret")
    errors: list[Exception] = []

    def write(t: int) -> None:
        try:
            for i in range(10):
                store.add_events([ev("shared", f"{t}-{i}")], counting)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    state, n = store.get_state(store.user_key("shared"))
    assert state["n"] == 40 and n == 40 and len(set(state["items"])) == 40


def test_delete_and_export_user(store_url):
    store = Store(store_url, "secret")
    store.add_events([ev("u1", "a", event_id="e"), ev("u2", "b")], counting)
    key = store.user_key("u1")
    exported = store.export_user(key)
    assert [e["item_id"] for e in exported["events"]] == ["a"]
    assert exported["interest_state"] == {"n": 1, "items": ["a"]}
    assert store.delete_user(key) == {"events": 1, "states": 1, "impressions": 0}
    assert store.export_user(key)["events"] == []
    assert store.count_events() == 1


def test_items_carry_a_catalogue_sequence(store_url):
    store = Store(store_url, "secret")
    s1 = store.upsert_items([ItemRecord("a", "A", attributes={"genres": ["x"]}),
                             ItemRecord("b", "B")])
    s2 = store.upsert_items([ItemRecord("a", "A2", embedding=b"\x00" * 8, encoder="e")])
    assert s2 > s1
    assert [r.item_id for r in store.items_since(s1)] == ["a"]
    assert store.get_item("a").title == "A2" and store.get_item("a").attributes == {}
    assert store.set_hidden("b", True) and store.get_item("b").hidden
    assert not store.set_hidden("zzz", True)
    assert int(store.meta_values()["item_seq"]) > s2
    assert [r.item_id for r in store.items_with_encoder_other_than("e")] == ["b"]


def test_one_upsert_naming_an_item_twice_keeps_the_last(store_url):
    store = Store(store_url, "secret")
    store.upsert_items([ItemRecord("a", "first"), ItemRecord("b", "B"),
                        ItemRecord("a", "second", hidden=True)])
    assert store.get_item("a").title == "second" and store.get_item("a").hidden
    assert sorted(r.item_id for r in store.items_since(0)) == ["a", "b"]


def test_active_model_is_shared_through_the_database(store_url):
    a, b = Store(store_url, "secret"), Store(store_url, "secret")
    assert a.active_model() is None
    a.set_active_model("v1", "/models/v1", "itemknn")
    a.set_active_model("v2", "/models/v2", "pop")
    assert b.active_model() == ("v2", "/models/v2")
    assert {v["version"] for v in b.model_versions()} == {"v1", "v2"}


def test_without_a_configured_secret_all_processes_share_a_generated_one(store_url, caplog):
    a, b = Store(store_url), Store(store_url)
    assert "no ID_SECRET configured" in caplog.text
    assert a.user_key("u1") == b.user_key("u1")
    assert "id_secret" not in a.meta_values()


def test_migrations_are_recorded_and_idempotent(store_url):
    store = Store(store_url, "secret")
    assert store.schema_version == LATEST_VERSION
    assert migrate(store.engine) == LATEST_VERSION
    with store.engine.connect() as conn:
        assert current_version(conn) == LATEST_VERSION
        rows = conn.execute(select(tables.schema_version)).all()
    assert [r.version for r in rows] == list(range(1, LATEST_VERSION + 1))


def test_sqlite_runs_in_wal_mode_with_full_sync(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


def test_unsupported_urls_are_rejected_with_the_reason():
    with pytest.raises(StoreConfigError, match="not supported"):
        make_engine("mysql://root@localhost/db")
    with pytest.raises(StoreConfigError, match="in-memory"):
        make_engine("sqlite://")


def test_user_snapshot_reads_everything_a_recommendation_needs(store_url):
    store = Store(store_url, "secret")
    store.add_events([ev("u1", f"i{i}", ts=i) for i in range(5)], counting)
    key = store.user_key("u1")
    snap = store.user_snapshot(key, limit=3)
    assert [e.item_id for e in snap.events] == ["i2", "i3", "i4"]
    assert snap.state["n"] == 5 and snap.n_events == 5
    assert snap.seen == {f"i{i}" for i in range(5)}  # all items, not only the recent ones
    assert snap.revision == store.user_revision(key)
    nobody = store.user_snapshot(store.user_key("nobody"), 3)
    assert (nobody.events, nobody.state, nobody.n_events, nobody.revision) == ([], None, 0, None)


def test_reads_that_must_agree_see_one_moment(store_url):
    """A user's snapshot is several statements; a write committed between them must not
    show in the later ones (PostgreSQL's read committed would show it)."""
    store = Store(store_url, "secret")
    store.add_events([ev("u1", "a")], counting)
    key = store.user_key("u1")
    count = select(func.count()).select_from(tables.events).where(
        tables.events.c.user_key == key)
    with store._snapshot() as conn, conn.begin():
        before = conn.execute(count).scalar_one()
        store.add_events([ev("u1", "b", ts=2)], counting)  # another connection commits
        assert conn.execute(count).scalar_one() == before == 1
    assert store.user_snapshot(key, 10).n_events == 2


def test_every_write_gives_the_user_a_new_revision(store_url):
    """Processes that hold a user in memory compare revisions to see others' writes."""
    store = Store(store_url, "secret")
    key = store.user_key("u1")
    assert store.user_revision(key) is None
    store.add_events([ev("u1", "a")], counting)
    first = store.user_revision(key)
    store.add_events([ev("u1", "b")], counting)
    assert store.user_revision(key) not in (None, first)
    store.delete_user(key)
    assert store.user_revision(key) is None


def test_a_request_reads_meta_and_the_users_revision_in_one_statement(store_url):
    """What a recommendation request reads first: the same as the two separate reads."""
    store = Store(store_url, "secret")
    store.add_events([ev("u1", "a")], counting)
    store.set_active_model("v1", "/models/v1", "fused")
    known, unknown = store.user_key("u1"), store.user_key("nobody")
    meta, revision = store.meta_and_revision(known)
    assert meta == store.meta_values() and meta["active_model"] == "v1"
    assert revision == store.user_revision(known) is not None
    assert store.meta_and_revision(unknown) == (store.meta_values(), None)


def test_item_counts_after_a_row_count_only_newer_events(store_url):
    """What keeps popularity current without recounting every event."""
    store = Store(store_url, "secret")
    assert store.item_counts_after(0) == ({}, 0)
    store.add_events([ev("u1", "a"), ev("u2", "a"), ev("u1", "b")], counting)
    counts, last = store.item_counts_after(0)
    assert counts == {"a": 2, "b": 1}
    store.add_events([ev("u3", "b")], counting)
    assert store.item_counts_after(last)[0] == {"b": 1}
    assert store.item_counts_after(store.item_counts_after(last)[1]) == ({}, last + 1)


def test_impressions_past_retention_are_deleted_oldest_first(store_url):
    """Age first, then the oldest beyond the row cap, through the time index."""
    store = Store(store_url, "secret")
    store.add_event_groups([], None, [
        impression_row(Impression(f"r{i}", "u", 1000.0 + i, "v1", 0, [("a", 0, None)]))
        for i in range(10)])
    assert prune_impressions(store, older_than=1003.0, max_rows=100) == 3  # r0-r2: too old
    # r3-r5: beyond the newest 4 rows, deleted two per transaction
    assert prune_impressions(store, older_than=0.0, max_rows=4, chunk=2) == 3
    assert prune_impressions(store, older_than=0.0, max_rows=4) == 0
    with store.engine.connect() as conn:
        left = conn.execute(select(tables.impressions.c.recommendation_id)
                            .order_by(tables.impressions.c.created_at)).scalars().all()
        indexes = {i["name"] for i in inspect(conn).get_indexes("impressions")}
    assert left == ["r6", "r7", "r8", "r9"]
    assert "ix_impressions_created" in indexes


def test_impressions_keep_each_shown_items_features(store_url):
    """Features are stored as one float32 matrix; an item without any reads back as None."""
    store = Store(store_url, "secret")
    x = np.array([0.5, -1.25, 2.0], dtype=np.float32)
    rid = new_recommendation_id()
    store.add_event_groups([], None, [impression_row(Impression(
        rid, "u", 1000.0, "v1", 0, [("a", 0, x), ("b", 1, None), ("c", 2, 2 * x)]))])
    with store.engine.connect() as conn:
        [imp] = due_impressions(conn, closed_before=2000.0, limit=10)
    assert imp.recommendation_id == rid
    assert [i[:2] for i in imp.items] == [("a", 0), ("b", 1), ("c", 2)]
    assert np.array_equal(imp.items[0][2], x) and imp.items[1][2] is None
    assert np.array_equal(imp.items[2][2], 2 * x)


def test_impressions_written_in_several_statements_read_back_as_given(store_url, monkeypatch):
    """A commit's impressions are written in chunks of rows (one statement each on
    SQLite); every row reads back, features, positions and order of items included."""
    monkeypatch.setattr(feedback_store, "ROWS_PER_STATEMENT", 2)
    store = Store(store_url, "secret")
    x = np.array([0.5, -1.25], dtype=np.float32)
    rows = [impression_row(Impression(f"r{i}", f"u{i % 2}", 1000.0 + i, "v1", i,
                                      [("a", 0, x * i), ("b", 1, None)]))
            for i in range(5)]
    store.add_event_groups([], None, rows)
    with store.engine.connect() as conn:
        due = due_impressions(conn, closed_before=2000.0, limit=10)
    assert [(d.recommendation_id, d.user_key, d.created_at, d.weights_version) for d in due] \
        == [(f"r{i}", f"u{i % 2}", 1000.0 + i, i) for i in range(5)]
    for i, d in enumerate(due):
        assert [item[:2] for item in d.items] == [("a", 0), ("b", 1)]
        assert np.array_equal(d.items[0][2], x * i) and d.items[1][2] is None


def test_impressions_written_before_schema_9_are_read_after_the_upgrade(store_url):
    """A version 8 database (features inside ``items``, no ``features`` column) gets the
    column from the migration and its rows read as they were written."""
    store = Store(store_url, "secret")
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE impressions DROP COLUMN features")
        conn.execute(tables.schema_version.delete().where(tables.schema_version.c.version == 9))
        conn.exec_driver_sql(
            "INSERT INTO impressions (recommendation_id, user_key, created_at, model_version,"
            " weights_version, items, labelled) VALUES ('old', 'u', 1000.0, 'v1', 0,"
            " '[[\"d\", 0, [1.0, 2.0, 3.0]], [\"e\", 1, null]]', false)")
    assert migrate(store.engine) == LATEST_VERSION
    with store.engine.connect() as conn:
        [old] = due_impressions(conn, closed_before=2000.0, limit=10)
    assert [i[:2] for i in old.items] == [("d", 0), ("e", 1)] and old.items[1][2] is None
    assert np.array_equal(old.items[0][2], [1.0, 2.0, 3.0])


def test_recommendation_ids_are_in_time_order():
    """New impressions append to the primary-key index (see new_recommendation_id)."""
    ids = [new_recommendation_id() for _ in range(200)]
    stamps = [i[:14] for i in ids]  # microseconds; ids made in the same one differ after
    assert stamps == sorted(stamps) and len(set(ids)) == len(ids)
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
