"""Engines by URL: SQLite (embedded default) or PostgreSQL, set up for durable writes.

SQLite runs in WAL mode with ``synchronous=FULL``, so a committed transaction survives a
crash of the process or the machine, and readers never block the single writer. Write
transactions start with ``BEGIN IMMEDIATE`` (pass ``execution_options(write=True)``) so two
writers queue on the busy timeout instead of failing half-way with "database is locked";
reads of several statements that must agree pass ``execution_options(snapshot=True)``
(``Store._snapshot``, which on PostgreSQL also asks for repeatable read).

A pooled PostgreSQL connection is checked with a ping when it comes out of the pool after
``PG_PING_AFTER_IDLE_S`` idle (:func:`ping_after_idle`), not on every checkout: under load
the pool hands back connections used milliseconds ago, and a ping is one more round trip
per request.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

import orjson
from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
PG_CONNECT_TIMEOUT_S = 5
#: A pooled PostgreSQL connection idle this long is pinged before it is used again.
PG_PING_AFTER_IDLE_S = 1.0
#: Key in a pooled connection's ``info`` (cleared when it reconnects): when it was returned.
_RETURNED_AT = "driftrec_returned_at"


def json_dumps(value: object) -> str:
    """JSON text as the store writes it (what a JSON column reads back)."""
    # Interest states are mostly float vectors: orjson encodes them ~10x faster than json.
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()


JSON_OPTIONS = {"json_serializer": json_dumps, "json_deserializer": orjson.loads}


class StoreConfigError(ValueError):
    """A database URL the store cannot use."""


def make_engine(url: str) -> Engine:
    """Create the engine for ``url``; only ``sqlite`` and ``postgresql`` are supported."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise StoreConfigError(f"DATABASE_URL {url!r} is not a valid database URL") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url, parsed.database)
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        # A server that does not answer fails a connection attempt after this many seconds
        # (the service then answers 503) instead of the system's TCP timeout, minutes.
        connect_args = ({} if "connect_timeout" in parsed.query
                        else {"connect_timeout": PG_CONNECT_TIMEOUT_S})
        engine = create_engine(parsed, pool_size=10, max_overflow=10,
                               connect_args=connect_args, **JSON_OPTIONS)
        ping_after_idle(engine, PG_PING_AFTER_IDLE_S)
        return engine
    raise StoreConfigError(
        f"DATABASE_URL backend {backend!r} is not supported; use sqlite:///path.db or "
        f"postgresql+psycopg://user@host:5432/db"
    )


def ping_after_idle(engine: Engine, idle_s: float) -> None:
    """Ping a pooled connection on checkout once it has been idle ``idle_s`` or longer.

    A connection that fails the ping is replaced, and every connection pooled before it
    is replaced on its next checkout (the database restarted), so a request after a
    restart gets a working connection. Connections back in use within ``idle_s`` are not
    pinged: a restart in that window fails one request with 503 and ``Retry-After`` (the
    disconnect then renews the pool), the price of one round trip fewer per request.
    """

    @event.listens_for(engine, "checkin")
    def _returned(dbapi_connection, record) -> None:
        if dbapi_connection is not None:
            record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, proxy) -> None:
        returned = record.info.get(_RETURNED_AT)
        if returned is None or time.monotonic() - returned < idle_s:
            return  # new, or in use moments ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise exc.InvalidatePoolError(f"ping after {idle_s} s idle failed: {error}") \
                from error


def _set_wal(cur) -> None:
    """Switch the database to write-ahead logging. On a fresh file two processes may switch
    at the same moment; SQLite then answers one of them "database is locked" at once (the
    switch needs an exclusive lock and the busy handler is skipped to avoid a deadlock), so
    the loser retries until the other's switch is done or the busy timeout has passed."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _sqlite_engine(url: str, database: str | None) -> Engine:
    if not database or database == ":memory:":
        raise StoreConfigError("DATABASE_URL must name a SQLite file (in-memory is not durable)")
    Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
    # As many pooled connections as a busy process uses at once (request threads, the
    # writer, background work): a connection opened past the pool is set up (WAL, pragmas)
    # and closed again on every use.
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
                                              "check_same_thread": False},
                           pool_size=16, max_overflow=16, **JSON_OPTIONS)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is deferred).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        _set_wal(cur)
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        # Writes take the write lock up front; reads that need several statements to agree
        # ask for a snapshot; a single-statement read needs no transaction (SQLite runs
        # each statement atomically), which saves two round trips on every request.
        options = conn.get_execution_options()
        if options.get("write", False):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif options.get("snapshot", False):
            conn.exec_driver_sql("BEGIN")

    return engine
