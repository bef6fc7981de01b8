"""Schema creation and versioned migrations, applied by the service at start-up.

Each migration is ``(version, description, function)``; ``migrate`` applies those newer than
the recorded version, in order, in one transaction each. Several processes starting at once
are safe: PostgreSQL takes an advisory lock, SQLite's ``BEGIN IMMEDIATE`` serialises them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy import Connection, Engine, func, inspect, select, text

from driftrec.store import tables as t

log = logging.getLogger(__name__)

_ADVISORY_LOCK_ID = 0x64726966  # "drif"


def _v1_initial(conn: Connection) -> None:
    t.metadata.create_all(conn, tables=[t.meta, t.events, t.items, t.user_state,
                                        t.model_versions])


MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "events, items, user state, model versions, meta", _v1_initial),
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
        for number, description, apply in MIGRATIONS:
            if number <= version:
                continue
            log.info("applying schema migration %d: %s", number, description)
            apply(conn)
            conn.execute(t.schema_version.insert().values(
                version=number, description=description, applied_at=int(time.time())))
            version = number
    return version
