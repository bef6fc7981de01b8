"""The one storage interface the service uses, over SQLite or PostgreSQL (chosen by URL).

Every write that the API acknowledges is committed before the call returns: events and the
user's new interest state go in one transaction, so a crash can lose neither one alone.
State is read from the database on every request, which is what lets several service
processes on one PostgreSQL behave as one service.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    bindparam,
    delete,
    func,
    literal,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from driftrec.store import tables as t
from driftrec.store.codec import decode_state, encode_state, plain
from driftrec.store.engine import make_engine
from driftrec.store.feedback import insert_impressions
from driftrec.store.migrations import LEGACY_EVENT_KEYS, migrate
from driftrec.store.pseudonym import Pseudonymiser
from driftrec.store.records import EventIdConflict, ItemRecord, NewEvent, StoredEvent
from driftrec.store.writelock import CHANGES, WriterLock

log = logging.getLogger(__name__)

#: Called once per user in an event batch with (user_key, old state or None, new events);
#: returns the new state: a JSON-able dict, whose numpy arrays are stored as raw bytes
#: (:mod:`driftrec.store.codec`).
StateUpdater = Callable[[str, dict[str, Any] | None, list[StoredEvent]], dict[str, Any]]

_ITEM_SEQ = "item_seq"
_ACTIVE_MODEL = "active_model"
_ID_SECRET = "id_secret"
#: The key :meth:`Store.meta_and_revision` gives the user's revision among the meta rows
#: (no meta key has spaces).
_REVISION_ROW = "user revision"
#: The meta rows every process reads to stay in step (all but the id secret).
_SHARED_META = select(t.meta.c.key, t.meta.c.value).where(t.meta.c.key != _ID_SECRET)
# The statements every request runs are built once (bound by parameter): building and
# keying one per call cost more than SQLite took to answer it.
_OF_USER = t.user_state.c.user_key == bindparam("user_key")
_USER_REVISION = select(t.user_state.c.revision).where(_OF_USER)
_META_AND_REVISION = union_all(
    _SHARED_META,
    select(literal(_REVISION_ROW).label("key"), t.user_state.c.revision.label("value"))
    .where(_OF_USER))


class Store:
    """Events, items, interest states and model versions behind one interface."""

    def __init__(self, url: str, id_secret: str | None = None) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.dialect = self.engine.dialect.name
        #: For reads of one statement (atomic by themselves), such as the one every request
        #: runs first: on PostgreSQL in autocommit, so that such a read is one round trip,
        #: with no BEGIN before it and no ROLLBACK when its connection goes back to the pool
        #: (399 to 260 us a read here, ad hoc). SQLite runs them outside a transaction
        #: already (``engine.py``).
        self._single_reads = (self.engine.execution_options(isolation_level="AUTOCOMMIT")
                              if self.dialect == "postgresql" else self.engine)
        self._sqlite_lock = (WriterLock(self.engine.url.database) if self.dialect == "sqlite"
                             else None)
        self._write_lock = self._sqlite_lock or nullcontext()
        self._last_change = threading.local()
        self.schema_version = migrate(self.engine)
        if self._sqlite_lock is not None:
            with self._sqlite_lock:  # a migration may have changed what others read
                self._sqlite_lock.bump()
        self.ids = Pseudonymiser(id_secret or self._stored_secret())
        self._legacy_event_keys = LEGACY_EVENT_KEYS in self.meta_values()
        self._stmt = _Statements(self._insert)

    # -- plumbing -------------------------------------------------------------------
    @contextmanager
    def _write(self, *, changes: bool = True) -> Iterator[Connection]:
        """A connection for one write transaction.

        On SQLite, writers of every process queue on a :class:`WriterLock` first: SQLite's
        own busy handler sleeps in growing steps, which turns a short queue into long tail
        latencies. Afterwards the change count moves, unless ``changes`` is False: the
        transaction writes nothing a user's context or the shared ``meta`` values are made
        of (served lists, feedback counts, segment versions), so readers keep what they
        hold; :func:`~driftrec.store.writelock.mark_changed` overrides that from inside.
        """
        with self._write_lock:
            conn = self.engine.connect().execution_options(write=True, **{CHANGES: changes})
            try:
                with conn:
                    yield conn
            finally:
                if self._sqlite_lock is not None and conn.get_execution_options()[CHANGES]:
                    self._last_change.value = self._sqlite_lock.bump()

    def change_count(self) -> int | None:
        """The database's change count, raised by every write transaction of every
        process (:mod:`.writelock`): what was read after it was ``c`` is current while it
        stays ``c``. None on PostgreSQL (readers ask the database)."""
        return self._sqlite_lock.changes() if self._sqlite_lock is not None else None

    def last_change(self) -> tuple[int, int] | None:
        """The change count before and after this thread's latest write transaction (None
        on PostgreSQL, or before any)."""
        return getattr(self._last_change, "value", None)

    def transaction(self, *, changes: bool = True):
        """A write transaction's connection (``with store.transaction() as conn,
        conn.begin(): ...``), queued like every other write of this process (``changes``:
        see :meth:`_write`)."""
        return self._write(changes=changes)

    def _insert(self, table):
        return (postgresql.insert(table) if self.dialect == "postgresql"
                else sqlite.insert(table))

    def _stored_secret(self) -> str:
        """A generated secret kept in the database, for set-ups that configure none."""
        log.warning("no ID_SECRET configured: using a generated secret kept in the database; "
                    "set DRIFTREC_ID_SECRET so that a copy of the database alone cannot be "
                    "matched against known user ids")
        with self._write() as conn, conn.begin():
            conn.execute(self._insert(t.meta).values(key=_ID_SECRET,
                                                     value=secrets.token_hex(32))
                         .on_conflict_do_nothing(index_elements=["key"]))
            return conn.execute(select(t.meta.c.value).where(t.meta.c.key == _ID_SECRET)
                                ).scalar_one()

    def ping(self) -> bool:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True

    def close(self) -> None:
        self.engine.dispose()
        if self._sqlite_lock is not None:
            self._sqlite_lock.close()

    def user_key(self, user_id: str) -> str:
        return self.ids.user_key(user_id)

    # -- events and interest state --------------------------------------------------
    def add_events(self, events: Sequence[NewEvent],
                   update_state: StateUpdater | None = None) -> tuple[int, int]:
        """Store events (a retried ``event_id`` is not stored twice) and update each user's
        state, all in one transaction.

        Returns ``(accepted, duplicates)``. Raises :class:`EventIdConflict` (and stores
        nothing) when an ``event_id`` is reused by its user for a different event.
        """
        outcome = self.add_event_groups([events], update_state)[0]
        if isinstance(outcome, EventIdConflict):
            raise outcome
        return outcome

    def add_event_groups(self, groups: Sequence[Sequence[NewEvent]],
                         update_state: StateUpdater | None = None,
                         impressions: Sequence[dict[str, Any]] = (),
                         written: dict[str, UserWrite] | None = None,
                         ) -> list[tuple[int, int] | EventIdConflict]:
        """Several requests' events in one transaction (group commit: one fsync for all).

        Each group is all-or-nothing: a group that reuses an ``event_id`` gets its
        :class:`EventIdConflict` and the transaction is redone without it, so one bad
        request never costs another its events. Each user's state row is locked while it
        is updated, so concurrent writers do not lose each other's updates. ``impressions``
        (rows of the ``impressions`` table: served lists) are committed in the same
        transaction. ``written``, when given, receives a :class:`UserWrite` per user whose
        state was written, once committed (what a process needs to bring a user it holds
        in memory up to date without reading the user again).
        """
        outcomes: list[tuple[int, int] | EventIdConflict | None] = [None] * len(groups)
        pending = [i for i, g in enumerate(groups) if g]
        for i, g in enumerate(groups):
            if not g:
                outcomes[i] = (0, 0)
        if not pending and impressions:
            with self._write(changes=False) as conn, conn.begin():
                insert_impressions(conn, impressions)
        while pending:
            try:
                with self._write() as conn, conn.begin():
                    if impressions:
                        insert_impressions(conn, impressions)
                    attempt: dict[str, UserWrite] = {}
                    counts = self._add_groups(conn, [groups[i] for i in pending],
                                              update_state, attempt)
            except _GroupConflict as conflict:
                outcomes[pending[conflict.group]] = conflict.error
                del pending[conflict.group]
                continue
            for i, c in zip(pending, counts, strict=True):
                outcomes[i] = c
            if written is not None:
                written.update(attempt)
            break
        return outcomes  # type: ignore[return-value]

    def _add_groups(self, conn: Connection, groups: list[Sequence[NewEvent]],
                    update_state: StateUpdater | None, written: dict[str, UserWrite]
                    ) -> list[tuple[int, int]]:
        now = int(time.time())
        counts = [[0, 0] for _ in groups]  # accepted, duplicates
        rows: list[dict[str, Any]] = []
        origin: list[tuple[int, int, NewEvent]] = []  # (group, index in it, event) per row
        for g, events in enumerate(groups):
            for index, ev in enumerate(events):
                key = self.ids.user_key(ev.user_id)
                event_key = self.ids.event_key(key, ev.event_id) if ev.event_id else None
                if event_key is not None and self._legacy_duplicate(conn, key, ev.event_id):
                    counts[g][1] += 1
                    continue
                rows.append({
                    "event_key": event_key,
                    "fingerprint": ev.fingerprint() if ev.event_id else None,
                    "user_key": key, "item_id": ev.item_id, "event_type": ev.event_type,
                    "value": _float(ev.value), "ts": int(ev.timestamp), "text": ev.text,
                    "received_at": now, "recommendation_id": ev.recommendation_id,
                })
                origin.append((g, index, ev))
        new_ids = self._insert_events(conn, rows)
        stored = _fingerprints(conn, [r["event_key"] for r, new_id
                                      in zip(rows, new_ids, strict=True) if new_id is None])
        accepted: dict[str, list[StoredEvent]] = {}
        for row, new_id, (g, index, ev) in zip(rows, new_ids, origin, strict=True):
            if new_id is None:  # the event_key is stored: a retry, or a reused event_id
                fingerprint = stored[row["event_key"]]
                if fingerprint is not None and fingerprint != row["fingerprint"]:
                    raise _GroupConflict(g, EventIdConflict(index, str(ev.event_id)))
                counts[g][1] += 1
                continue
            counts[g][0] += 1
            accepted.setdefault(row["user_key"], []).append(StoredEvent(
                ev.item_id, ev.event_type, row["value"], row["ts"], ev.text, new_id))
        if accepted:
            self._write_states(conn, accepted, update_state, written, now)
        return [(n_new, n_dup) for n_new, n_dup in counts]

    def _insert_events(self, conn: Connection, rows: list[dict[str, Any]]
                       ) -> list[int | None]:
        """Insert event rows in their order; each row's new id, or None where its
        ``event_key`` is already stored (or came earlier in ``rows``).

        Rows that all carry an ``event_key`` go in one statement (its returned rows are
        matched to them by key). Rows that all lack one cannot conflict: SQLAlchemy's
        batched insert returns their ids in the rows' order (one statement on PostgreSQL;
        SQLite, which promises no order of returned rows, gets one a row). A commit mixing
        both keeps one statement a row, in order, so that ids follow the events' order. On
        PostgreSQL each statement is a round trip.
        """
        if len(rows) > 1 and all(r["event_key"] is not None for r in rows):
            ids = dict(conn.execute(self._stmt.insert_keyed_events, rows).all())
            # a key given twice is stored once, for its first row
            return [ids.pop(r["event_key"], None) for r in rows]
        if len(rows) > 1 and all(r["event_key"] is None for r in rows):
            return list(conn.execute(self._stmt.insert_unkeyed_events, rows).scalars())
        return [conn.execute(self._stmt.insert_event, r).scalar_one_or_none() for r in rows]

    def _write_states(self, conn: Connection, accepted: dict[str, list[StoredEvent]],
                      update_state: StateUpdater | None, written: dict[str, UserWrite],
                      now: int) -> None:
        """Update the states of the users with new events, each row locked while it is
        read and written, locks taken in key order so that two transactions naming the
        same users wait for each other in one order and never deadlock.

        Several users (a group commit): every row made to exist first (as the bulk import
        does), then all locked and read by one statement and written by one batch, since
        on PostgreSQL each statement is a round trip. One user: the single-row statements
        (a list parameter is rendered anew on every call), the row made only if missing.
        """
        keys = sorted(accepted)
        new_rows = [{"user_key": k, "state": {}, "n_events": 0, "updated_at": now,
                     "revision": ""} for k in keys]
        if len(keys) > 1:
            conn.execute(self._stmt.ensure_state, new_rows)
            old = self._lock_states(conn, keys)
        else:
            row = conn.execute(self._stmt.lock_state, {"b_key": keys[0]}).one_or_none()
            if row is None:  # a new user: create the row (or wait for whoever just did)
                conn.execute(self._stmt.ensure_state, new_rows[0])
                row = conn.execute(self._stmt.lock_state, {"b_key": keys[0]}).one()
            old = {keys[0]: row}
        rows = []
        for key in keys:
            state = stored_state(old[key])
            if update_state is not None:
                state = update_state(key, state, accepted[key])
            revision = new_revision()
            n_events = int(old[key].n_events) + len(accepted[key])
            rows.append({"b_key": key, **state_columns(state, "b_"), "b_n": n_events,
                         "b_now": now, "b_revision": revision})
            written[key] = UserWrite(old[key].revision or None, revision, n_events,
                                     accepted[key])
        conn.execute(self._stmt.write_state, rows if len(rows) > 1 else rows[0])

    def _lock_states(self, conn: Connection, keys: list[str], chunk: int = 500
                     ) -> dict[str, Any]:
        """The ``user_state`` rows of ``keys`` (sorted), locked in key order."""
        rows: dict[str, Any] = {}
        for i in range(0, len(keys), chunk):
            rows.update((r.user_key, r) for r in conn.execute(
                self._stmt.lock_states, {"b_keys": keys[i:i + chunk]}))
        return rows

    def _legacy_duplicate(self, conn: Connection, user_key: str, event_id: str) -> bool:
        """A retry of an event stored under schema version 1's unscoped key."""
        if not self._legacy_event_keys:
            return False
        return conn.execute(select(t.events.c.id).where(
            (t.events.c.event_key == self.ids.legacy_event_key(event_id))
            & (t.events.c.user_key == user_key))).first() is not None

    def user_events(self, user_key: str, limit: int | None = None) -> list[StoredEvent]:
        """The user's events in time order (the most recent ``limit`` when given)."""
        e = t.events.c
        stmt = (select(e.id, e.item_id, e.event_type, e.value, e.ts, e.text)
                .where(e.user_key == user_key).order_by(e.ts.desc(), e.id.desc()))
        if limit is not None:
            stmt = stmt.limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [StoredEvent(r.item_id, r.event_type, r.value, r.ts, r.text, r.id)
                for r in reversed(rows)]

    def _snapshot(self) -> Connection:
        """A connection whose transaction reads one moment of the store, for reads of
        several statements that must agree: SQLite keeps the snapshot of a transaction's
        first read; PostgreSQL's default (read committed) takes a new snapshot for every
        statement, so there the transaction asks for repeatable read."""
        options: dict[str, Any] = {"snapshot": True}
        if self.dialect == "postgresql":
            options["isolation_level"] = "REPEATABLE READ"
        return self.engine.connect().execution_options(**options)

    def user_snapshot(self, user_key: str, limit: int) -> UserSnapshot:
        """Recent events, state, event count, seen items and revision of a user, read in
        one transaction so that they agree with each other."""
        e = t.events.c
        with self._snapshot() as conn, conn.begin():
            state = conn.execute(select(t.user_state.c.state, t.user_state.c.state_blob,
                                        t.user_state.c.n_events, t.user_state.c.revision)
                                 .where(t.user_state.c.user_key == user_key)).one_or_none()
            rows = conn.execute(
                select(e.id, e.item_id, e.event_type, e.value, e.ts, e.text)
                .where(e.user_key == user_key).order_by(e.ts.desc(), e.id.desc()).limit(limit)
            ).all()
            if len(rows) < limit:
                seen = {r.item_id for r in rows}
            else:
                seen = set(conn.execute(select(e.item_id).distinct()
                                        .where(e.user_key == user_key)).scalars())
        events = [StoredEvent(r.item_id, r.event_type, r.value, r.ts, r.text, r.id)
                  for r in reversed(rows)]
        if state is None:
            return UserSnapshot(events, None, 0, seen, None)
        return UserSnapshot(events, stored_state(state), int(state.n_events), seen,
                            state.revision)

    def user_revision(self, user_key: str) -> str | None:
        """The user's state revision (None for a user with no state): one key lookup."""
        with self._single_reads.connect() as conn:
            return conn.execute(_USER_REVISION, {"user_key": user_key}).scalar_one_or_none()

    def seen_items(self, user_key: str) -> set[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.events.c.item_id).distinct()
                                .where(t.events.c.user_key == user_key)).scalars()
            return set(rows)

    def get_state(self, user_key: str) -> tuple[dict[str, Any] | None, int]:
        """The user's interest state and event count (``(None, 0)`` for unknown users)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(t.user_state.c.state, t.user_state.c.state_blob,
                                      t.user_state.c.n_events)
                               .where(t.user_state.c.user_key == user_key)).one_or_none()
        if row is None:
            return None, 0
        return stored_state(row), int(row.n_events)

    def iter_states(self, batch_size: int = 1000) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every stored interest state as ``(user_key, state)``, in key order, in batches."""
        last = ""
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(t.user_state.c.user_key, t.user_state.c.state,
                           t.user_state.c.state_blob)
                    .where(t.user_state.c.user_key > last)
                    .order_by(t.user_state.c.user_key).limit(batch_size)).all()
            if not rows:
                return
            for row in rows:
                yield row.user_key, stored_state(row) or {}
            last = rows[-1].user_key

    def delete_user(self, user_key: str) -> dict[str, int]:
        """Erase every event and the interest state of one user."""
        with self._write() as conn, conn.begin():
            n_events = conn.execute(delete(t.events).where(t.events.c.user_key == user_key)
                                    ).rowcount
            n_state = conn.execute(delete(t.user_state)
                                   .where(t.user_state.c.user_key == user_key)).rowcount
            n_shown = conn.execute(delete(t.impressions)
                                   .where(t.impressions.c.user_key == user_key)).rowcount
        return {"events": int(n_events), "states": int(n_state), "impressions": int(n_shown)}

    def export_user(self, user_key: str) -> dict[str, Any]:
        """Everything stored about one user (for a data-subject access request)."""
        state, n_events = self.get_state(user_key)
        state = plain(state)
        e = t.events.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(e.item_id, e.event_type, e.value, e.ts, e.text, e.event_key,
                       e.received_at).where(e.user_key == user_key).order_by(e.ts, e.id)
            ).all()
        return {
            "user_key": user_key,
            "events": [
                {"item_id": r.item_id, "event_type": r.event_type, "value": r.value,
                 "timestamp": r.ts, "text": r.text, "event_id_hash": r.event_key,
                 "received_at": r.received_at}
                for r in rows
            ],
            "interest_state": state,
            "n_events": n_events,
        }

    def item_popularity(self, since_ts: int | None = None) -> dict[str, int]:
        """Event counts per item (optionally only events at or after ``since_ts``)."""
        stmt = select(t.events.c.item_id, func.count()).group_by(t.events.c.item_id)
        if since_ts is not None:
            stmt = stmt.where(t.events.c.ts >= since_ts)
        with self.engine.connect() as conn:
            return {r[0]: int(r[1]) for r in conn.execute(stmt)}

    def item_feedback(self) -> dict[str, tuple[int, int]]:
        """Per item, ``(shown, engaged)`` counts of labelled impressions (exploration)."""
        f = t.item_feedback.c
        with self.engine.connect() as conn:
            return {r.item_id: (int(r.shown), int(r.engaged))
                    for r in conn.execute(select(f.item_id, f.shown, f.engaged))}

    def item_counts_after(self, last_id: int) -> tuple[dict[str, int], int]:
        """Event counts per item among events stored after row ``last_id``, and the new
        last row id: what keeps a popularity count current without recounting."""
        e = t.events.c
        with self._snapshot() as conn, conn.begin():
            top = conn.execute(select(func.max(e.id))).scalar_one_or_none() or 0
            if top <= last_id:
                return {}, last_id
            rows = conn.execute(select(e.item_id, func.count())
                                .where((e.id > last_id) & (e.id <= top))
                                .group_by(e.item_id)).all()
        return {r[0]: int(r[1]) for r in rows}, int(top)

    def count_events(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(t.events)).scalar_one())

    # -- items ----------------------------------------------------------------------
    def _next_item_seq(self, conn: Connection) -> int:
        conn.execute(self._insert(t.meta).values(key=_ITEM_SEQ, value="0")
                     .on_conflict_do_nothing(index_elements=["key"]))
        current = conn.execute(select(t.meta.c.value).where(t.meta.c.key == _ITEM_SEQ)
                               .with_for_update()).scalar_one()
        seq = int(current) + 1
        conn.execute(update(t.meta).where(t.meta.c.key == _ITEM_SEQ).values(value=str(seq)))
        return seq

    def upsert_items(self, records: Iterable[ItemRecord]) -> int:
        """Insert or replace items; returns the catalogue sequence number they got."""
        now = int(time.time())
        with self._write() as conn, conn.begin():
            seq = self._next_item_seq(conn)
            # the last record of an item wins (one statement may not touch a row twice)
            rows = list({rec.item_id: {
                "item_id": rec.item_id, "title": rec.title, "text": rec.text,
                "attributes": rec.attributes, "hidden": rec.hidden, "embedding": rec.embedding,
                "encoder": rec.encoder, "seq": seq, "updated_at": now} for rec in records
            }.values())
            if rows:
                # one statement for all rows (executemany): compiled once, not per item,
                # which at a million items was most of a catalogue import's time
                stmt = self._insert(t.items)
                stmt = stmt.on_conflict_do_update(
                    index_elements=["item_id"],
                    set_={c: stmt.excluded[c] for c in rows[0] if c != "item_id"})
                conn.execute(stmt, rows)
        return seq

    def set_hidden(self, item_id: str, hidden: bool) -> bool:
        """Hide (or show) an item; False when no such item exists."""
        with self._write() as conn, conn.begin():
            exists = conn.execute(select(t.items.c.item_id)
                                  .where(t.items.c.item_id == item_id)).one_or_none()
            if exists is None:
                return False
            seq = self._next_item_seq(conn)
            conn.execute(update(t.items).where(t.items.c.item_id == item_id)
                         .values(hidden=hidden, seq=seq, updated_at=int(time.time())))
        return True

    def get_item(self, item_id: str) -> ItemRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.items).where(t.items.c.item_id == item_id)
                               ).one_or_none()
        return _item(row) if row is not None else None

    def items_since(self, seq: int) -> list[ItemRecord]:
        """Items written after catalogue sequence ``seq`` (all items for ``seq=0``)."""
        return [item for page in self.item_pages_since(seq) for item in page]

    def item_pages_since(self, seq: int, page: int = 10_000) -> Iterator[list[ItemRecord]]:
        """:meth:`items_since` as a stream of pages of at most ``page`` items: reading a
        million-item catalogue holds one page of rows at a time, not all of them."""
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=page).execute(
                select(t.items).where(t.items.c.seq > seq).order_by(t.items.c.seq))
            for rows in result.partitions():
                yield [_item(r) for r in rows]

    def items_with_encoder_other_than(self, key: str) -> list[ItemRecord]:
        """Items whose vector was made under another embedding key (the ``encoder`` column:
        encoder name and item text rule, ``"minilm#3f2a..."``), or that have none."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.items).where(
                (t.items.c.encoder.is_(None)) | (t.items.c.encoder != key))).all()
        return [_item(r) for r in rows]

    # -- shared meta: catalogue version and active model ----------------------------
    def meta_values(self) -> dict[str, str]:
        with self._single_reads.connect() as conn:
            rows = conn.execute(_SHARED_META).all()
        return {r.key: r.value for r in rows}

    def meta_and_revision(self, user_key: str) -> tuple[dict[str, str], str | None]:
        """:meth:`meta_values` and :meth:`user_revision` in one statement: what a
        request for one user reads before anything else (one round trip to PostgreSQL,
        not two)."""
        with self._single_reads.connect() as conn:
            rows = conn.execute(_META_AND_REVISION, {"user_key": user_key}).all()
        meta = {r.key: r.value for r in rows}
        return meta, meta.pop(_REVISION_ROW, None)

    def set_active_model(self, version: str, path: str, name: str) -> None:
        """Record a loaded model version and make it the one every process serves."""
        now = int(time.time())
        with self._write() as conn, conn.begin():
            conn.execute(self._insert(t.model_versions).values(
                version=version, path=path, name=name, loaded_at=now,
            ).on_conflict_do_update(index_elements=["version"],
                                    set_={"loaded_at": now, "path": path}))
            conn.execute(self._insert(t.meta).values(key=_ACTIVE_MODEL, value=version)
                         .on_conflict_do_update(index_elements=["key"],
                                                set_={"value": version}))

    def active_model(self) -> tuple[str, str] | None:
        """``(version, path)`` of the model every process should serve, if any."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.model_versions.c.version, t.model_versions.c.path)
                .join(t.meta, t.meta.c.value == t.model_versions.c.version)
                .where(t.meta.c.key == _ACTIVE_MODEL)).one_or_none()
        return (row.version, row.path) if row is not None else None

    def model_versions(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.model_versions)
                                .order_by(t.model_versions.c.loaded_at.desc())).all()
        return [dict(r._mapping) for r in rows]

    # -- bulk import ----------------------------------------------------------------
    def stored_fingerprints(self, event_keys: Sequence[str],
                            chunk: int = 500) -> dict[str, str | None]:
        """``event_key -> fingerprint`` of the given keys that are stored already."""
        with self.engine.connect() as conn:
            return _fingerprints(conn, event_keys, chunk)

    def import_events(self, users: Iterable[tuple[str, Sequence[NewEvent]]],
                      update_state: StateUpdater | None = None, *,
                      batch_rows: int = 20_000, skip_existing_users: bool = False,
                      on_batch: Callable[[ImportCounts], None] | None = None
                      ) -> ImportCounts:
        """Bulk-write historical events and each user's new interest state.

        ``users`` yields ``(user_id, events)`` once per user, the events in the order they
        are applied (the importer sorts them by time). Users are written in transactions of
        about ``batch_rows`` events, never split between two: an import that stops (an
        error, Ctrl-C) leaves whole users of whole batches committed and nothing else.
        Events go in with executemany-style inserts; ``update_state`` is called once per
        user with new events, as in :meth:`add_events` (``seq`` of the events is 0: row
        ids are not read back), and ``n_events`` grows by the events stored.

        Duplicates are decided as in :meth:`add_event_groups`: an ``event_id`` the user
        already stored (or sent earlier in this import) with the same payload is skipped
        and counted; with another payload the batch is rolled back and
        :class:`EventIdConflict` is raised, its ``index`` counting events across ``users``.
        Events without ``event_id`` have no idempotency key: importing them twice stores
        them twice. ``skip_existing_users`` leaves out every user who already has a stored
        state (resuming an interrupted import, or importing only new users).
        ``on_batch`` gets the running totals after each commit.
        """
        total = ImportCounts()
        batch: list[tuple[str, Sequence[NewEvent]]] = []
        size = offset = 0
        for user_id, events in users:
            if not events:
                continue
            batch.append((user_id, events))
            size += len(events)
            if size >= batch_rows:
                total.add(self._import_batch(batch, offset, update_state,
                                             skip_existing_users))
                if on_batch is not None:
                    on_batch(total)
                offset += size
                batch, size = [], 0
        if batch:
            total.add(self._import_batch(batch, offset, update_state, skip_existing_users))
            if on_batch is not None:
                on_batch(total)
        return total

    def _import_batch(self, batch: list[tuple[str, Sequence[NewEvent]]], offset: int,
                      update_state: StateUpdater | None, skip_existing_users: bool,
                      chunk: int = 500) -> ImportCounts:
        counts = ImportCounts(batches=1, rows=sum(len(ev) for _, ev in batch))
        now = int(time.time())
        keyed: list[tuple[str, str]] = []  # (user_key, event_id) of events with an id
        users: list[tuple[str, Sequence[NewEvent], int]] = []
        start = offset
        for user_id, events in batch:
            key = self.ids.user_key(user_id)  # once per user: a user appears once
            users.append((key, events, start))
            start += len(events)
            keyed.extend((key, ev.event_id) for ev in events if ev.event_id)
        s, e = t.user_state.c, t.events.c
        with self._write() as conn, conn.begin():
            if skip_existing_users:
                keys = [u[0] for u in users]
                existing: set[str] = set()
                for i in range(0, len(keys), chunk):
                    part = keys[i:i + chunk]
                    existing.update(conn.execute(select(s.user_key)
                                                 .where(s.user_key.in_(part))).scalars())
                    existing.update(conn.execute(select(e.user_key).distinct()
                                                 .where(e.user_key.in_(part))).scalars())
                kept = [u for u in users if u[0] not in existing]
                counts.skipped_users = len(users) - len(kept)
                counts.skipped_events = sum(len(u[1]) for u in users if u[0] in existing)
                users = kept
            stored: dict[str, str | None] = {}
            if keyed:
                event_keys = [self.ids.event_key(k, i) for k, i in keyed]
                for i in range(0, len(event_keys), chunk):
                    stored.update((r.event_key, r.fingerprint) for r in conn.execute(
                        select(e.event_key, e.fingerprint)
                        .where(e.event_key.in_(event_keys[i:i + chunk]))))
            rows: list[dict[str, Any]] = []
            accepted: dict[str, list[StoredEvent]] = {}
            for key, events, first in users:
                new: list[StoredEvent] = []
                for j, ev in enumerate(events):
                    event_key = fingerprint = None
                    if ev.event_id:
                        event_key = self.ids.event_key(key, ev.event_id)
                        fingerprint = ev.fingerprint()
                        if event_key in stored:
                            if stored[event_key] not in (None, fingerprint):
                                raise EventIdConflict(first + j, str(ev.event_id))
                            counts.duplicates += 1
                            continue
                        if self._legacy_duplicate(conn, key, ev.event_id):
                            counts.duplicates += 1
                            continue
                        stored[event_key] = fingerprint
                    value = _float(ev.value)
                    rows.append({"event_key": event_key, "fingerprint": fingerprint,
                                 "user_key": key, "item_id": ev.item_id,
                                 "event_type": ev.event_type, "value": value,
                                 "ts": int(ev.timestamp), "text": ev.text,
                                 "received_at": now})
                    new.append(StoredEvent(ev.item_id, ev.event_type, value,
                                           int(ev.timestamp), ev.text))
                if new:
                    accepted[key] = new
            if rows:
                conn.execute(t.events.insert(), rows)
            counts.events = len(rows)
            # users in key order: two transactions naming the same users lock them alike
            keys = sorted(accepted)
            if keys:
                conn.execute(self._insert(t.user_state).on_conflict_do_nothing(
                    index_elements=["user_key"]),
                    [{"user_key": k, "state": {}, "n_events": 0, "updated_at": now}
                     for k in keys])
            old: dict[str, Any] = {}
            for i in range(0, len(keys), chunk):
                old.update((r.user_key, r) for r in conn.execute(
                    select(s.user_key, s.state, s.state_blob, s.n_events)
                    .where(s.user_key.in_(keys[i:i + chunk]))
                    .order_by(s.user_key).with_for_update()))
            updates = []
            for key in keys:
                row = old[key]
                state = stored_state(row)
                if update_state is not None:
                    state = update_state(key, state, accepted[key])
                updates.append({"k": key, **state_columns(state, "new_"),
                                "new_n": int(row.n_events) + len(accepted[key]),
                                "new_revision": new_revision()})
            if updates:
                conn.execute(update(t.user_state)
                             .where(s.user_key == bindparam("k"))
                             .values(state=bindparam("new_state", type_=s.state.type),
                                     state_blob=bindparam("new_state_blob",
                                                          type_=s.state_blob.type),
                                     drift=bindparam("new_drift", type_=s.drift.type),
                                     n_events=bindparam("new_n"), updated_at=now,
                                     revision=bindparam("new_revision")),
                             updates)
            counts.users = len(keys)
        return counts


class _GroupConflict(Exception):
    """Internal: group ``group`` of a group commit reuses an event id."""

    def __init__(self, group: int, error: EventIdConflict) -> None:
        super().__init__(str(error))
        self.group = group
        self.error = error


class _Statements:
    """The ingest path's statements, built once (building them costs more than running)."""

    def __init__(self, insert) -> None:
        self.insert_event = (insert(t.events).on_conflict_do_nothing(index_elements=["event_key"])
                             .returning(t.events.c.id))
        self.insert_keyed_events = (
            insert(t.events).on_conflict_do_nothing(index_elements=["event_key"])
            .returning(t.events.c.event_key, t.events.c.id))
        self.insert_unkeyed_events = insert(t.events).returning(
            t.events.c.id, sort_by_parameter_order=True)
        self.ensure_state = insert(t.user_state).on_conflict_do_nothing(
            index_elements=["user_key"])
        s = t.user_state.c
        state_row = select(s.user_key, s.state, s.state_blob, s.n_events, s.revision)
        self.lock_state = state_row.where(s.user_key == bindparam("b_key")).with_for_update()
        self.lock_states = (state_row.where(s.user_key.in_(bindparam("b_keys", expanding=True)))
                            .order_by(s.user_key).with_for_update())
        self.write_state = (update(t.user_state)
                            .where(t.user_state.c.user_key == bindparam("b_key"))
                            .values(state=bindparam("b_state", type_=t.user_state.c.state.type),
                                    state_blob=bindparam("b_state_blob",
                                                         type_=t.user_state.c.state_blob.type),
                                    drift=bindparam("b_drift", type_=t.user_state.c.drift.type),
                                    n_events=bindparam("b_n"), updated_at=bindparam("b_now"),
                                    revision=bindparam("b_revision")))


@dataclass
class UserWrite:
    """One user's state write in an event commit: the revision it replaced (None for a
    user written for the first time), the new revision, the event count after it and the
    events stored (with their row ids)."""

    old_revision: str | None
    revision: str
    n_events: int
    events: list[StoredEvent]


@dataclass
class UserSnapshot:
    """What the store holds about one user, read consistently."""

    events: list[StoredEvent]
    state: dict[str, Any] | None
    n_events: int
    seen: set[str]
    revision: str | None


def _fingerprints(conn: Connection, event_keys: Sequence[str], chunk: int = 500
                  ) -> dict[str, str | None]:
    """``event_key -> fingerprint`` of the given keys that are stored, ``chunk`` keys a
    statement."""
    found: dict[str, str | None] = {}
    e = t.events.c
    for start in range(0, len(event_keys), chunk):
        part = list(event_keys[start:start + chunk])
        found.update((r.event_key, r.fingerprint) for r in conn.execute(
            select(e.event_key, e.fingerprint).where(e.event_key.in_(part))))
    return found


def stored_state(row) -> dict[str, Any] | None:
    """A ``user_state`` row's state: the binary form, else the JSON one (rows written
    before schema version 5), None for an empty state."""
    if row.state_blob is not None:
        return decode_state(row.state_blob)
    return dict(row.state) if row.state else None


def state_columns(state: dict[str, Any] | None, prefix: str) -> dict[str, Any]:
    """The values of the state columns for ``state``, as bind parameters named
    ``<prefix>state``, ``<prefix>state_blob`` and ``<prefix>drift``."""
    drift = (state or {}).get("drift")
    return {f"{prefix}state": {},
            f"{prefix}state_blob": encode_state(state) if state else None,
            f"{prefix}drift": float(drift) if isinstance(drift, int | float) else None}


def new_revision() -> str:
    return secrets.token_hex(8)


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


def _item(row) -> ItemRecord:
    return ItemRecord(item_id=row.item_id, title=row.title or "", text=row.text or "",
                      attributes=dict(row.attributes or {}), hidden=bool(row.hidden),
                      embedding=row.embedding, encoder=row.encoder, seq=int(row.seq),
                      updated_at=int(row.updated_at))


@dataclass
class ImportCounts:
    """Totals of :meth:`Store.import_events` (of committed batches only)."""

    rows: int = 0  #: events read, stored or not
    events: int = 0  #: events stored
    duplicates: int = 0  #: events whose ``event_id`` was stored already
    users: int = 0  #: users whose state was written
    skipped_users: int = 0  #: users left out by ``skip_existing_users``
    skipped_events: int = 0  #: their events
    batches: int = 0

    def add(self, other: ImportCounts) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))
