"""Schema creation and versioned migrations, applied by the service at start-up.

Each migration is ``(version, description, function)``; ``migrate`` applies those newer than
the recorded version, in order, in one transaction each. Several processes starting at once
are safe: PostgreSQL takes an advisory lock, SQLite's ``BEGIN IMMEDIATE`` serialises them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy import Connection, Engine, Table, func, inspect, select, text

from driftrec.store import tables as t

log = logging.getLogger(__name__)

_ADVISORY_LOCK_ID = 0x64726966  # "drif"


#: Meta key set when events written under schema version 1 (unscoped event keys) exist.
LEGACY_EVENT_KEYS = "legacy_event_keys"


def _add_column(conn: Connection, table: Table, name: str) -> None:
    """Add ``table``'s column ``name``, as :mod:`.tables` declares it, to a database made
    before the column existed (a fresh one already has it from ``create_all``)."""
    if name in {c["name"] for c in inspect(conn).get_columns(table.name)}:
        return
    column = table.c[name]
    sql = f"ALTER TABLE {table.name} ADD COLUMN {name} {column.type.compile(conn.dialect)}"
    if not column.nullable:  # existing rows need a value
        sql += f" NOT NULL DEFAULT '{column.server_default.arg}'"
    conn.execute(text(sql))


def _v1_initial(conn: Connection) -> None:
    t.metadata.create_all(conn, tables=[t.meta, t.events, t.items, t.user_state,
                                        t.model_versions])
    # later versions' tables are created by their own migrations


def _v2_event_fingerprint(conn: Connection) -> None:
    """Event ids become per-user keys with a payload fingerprint.

    A fresh database gets the column from version 1's ``create_all``. Older keys cannot be
    re-scoped (raw event ids are never stored), so they stay, and a flag tells the store to
    also look them up (per user) when a client retries an event acknowledged before.
    """
    _add_column(conn, t.events, "fingerprint")
    legacy = conn.execute(select(func.count()).select_from(t.events)
                          .where(t.events.c.event_key.is_not(None))).scalar_one()
    if legacy:
        conn.execute(t.meta.insert().values(key=LEGACY_EVENT_KEYS, value="1"))


def _v3_state_revision(conn: Connection) -> None:
    """Each user's state row gets a revision token that changes on every write."""
    _add_column(conn, t.user_state, "revision")


def _v4_feedback(conn: Connection) -> None:
    """Impressions, online fusion weights, and explicit attribution on events."""
    _add_column(conn, t.events, "recommendation_id")
    t.metadata.create_all(conn, tables=[t.impressions, t.fusion_weights])


def _v5_binary_state(conn: Connection) -> None:
    """User states are written in a compact binary format (``state_blob``) beside their
    ``drift``; rows written before keep their JSON ``state`` until the user's next event.

    Nothing is rewritten here: the store reads either form, so an upgrade costs no pass
    over the states and a large database starts serving at once.
    """
    _add_column(conn, t.user_state, "state_blob")
    _add_column(conn, t.user_state, "drift")


def _v6_segmentations(conn: Connection) -> None:
    """One shared, versioned user segmentation, and the history of segment sizes."""
    t.metadata.create_all(conn, tables=[t.segmentations, t.segment_history])


def _v7_item_feedback(conn: Connection) -> None:
    """Per-item counts of labelled impressions and engagements, for exploration."""
    t.metadata.create_all(conn, tables=[t.item_feedback])


def _v8_impressions_by_time(conn: Connection) -> None:
    """Impressions by time alone: retention finds and deletes the oldest ones through this
    index instead of reading the whole table."""
    index = next(i for i in t.impressions.indexes if i.name == "ix_impressions_created")
    index.create(conn, checkfirst=True)


def _v9_impression_features(conn: Connection) -> None:
    """Shown items' features as one binary float32 matrix rather than JSON numbers: every
    served list is written, and printing its numbers cost more than the row itself. Rows
    written before keep their features in ``items`` and are read as they are."""
    _add_column(conn, t.impressions, "features")


def _v10_change_count(conn: Connection) -> None:
    """Nothing in the tables changes. On SQLite every writer now raises the change count
    in ``<database>.lock`` (:mod:`.writelock`), and readers trust what they hold while it
    stays put; a build from before the count would write without raising it. Recording
    this version makes such a build refuse the database at start-up (it is newer than the
    build knows)."""


MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "events, items, user state, model versions, meta", _v1_initial),
    (2, "event ids scoped per user, with payload fingerprints", _v2_event_fingerprint),
    (3, "a revision token per user state", _v3_state_revision),
    (4, "impressions, online fusion weights, attribution", _v4_feedback),
    (5, "user states in a compact binary format", _v5_binary_state),
    (6, "shared user segmentation versions and segment history", _v6_segmentations),
    (7, "per-item impression and engagement counts", _v7_item_feedback),
    (8, "impressions indexed by time, for retention", _v8_impressions_by_time),
    (9, "impression features in a binary matrix", _v9_impression_features),
    (10, "writers raise the change count beside a SQLite database", _v10_change_count),
]

LATEST_VERSION = MIGRATIONS[-1][0]


def current_version(conn: Connection) -> int:
    if not inspect(conn).has_table(t.schema_version.name):
        return 0
    return int(conn.execute(select(func.coalesce(func.max(t.schema_version.c.version), 0)))
               .scalar_one())


def migrate(engine: Engine) -> int:
    """Bring the schema to the latest version; returns the version now in place."""
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK_ID})
        t.schema_version.create(conn, checkfirst=True)
        version = current_version(conn)
        if version > LATEST_VERSION:
            raise RuntimeError(
                f"database schema version {version} is newer than this driftrec "
                f"({LATEST_VERSION}); upgrade driftrec"
            )
        # Each migration not recorded yet is applied, also one numbered below the latest
        # recorded (a database made by a build that did not have it); each one checks what
        # is there before it changes anything.
        applied = set(conn.execute(select(t.schema_version.c.version)).scalars())
        for number, description, apply in MIGRATIONS:
            if number in applied:
                continue
            log.info("applying schema migration %d: %s", number, description)
            apply(conn)
            conn.execute(t.schema_version.insert().values(
                version=number, description=description, applied_at=int(time.time())))
            version = max(version, number)
    return version
