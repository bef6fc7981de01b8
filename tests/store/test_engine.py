"""Pooled PostgreSQL connections are pinged only after sitting idle (``ping_after_idle``)."""

from __future__ import annotations

import time

from sqlalchemy import text

from driftrec.store.engine import PG_PING_AFTER_IDLE_S, make_engine


def test_a_connection_is_pinged_after_idling_not_when_reused_at_once(postgres_url,
                                                                      monkeypatch):
    engine = make_engine(postgres_url)
    pings = []
    ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda conn: pings.append(1) or ping(conn))
    try:
        for _ in range(5):
            with engine.connect() as conn:
                assert conn.execute(text("SELECT 1")).scalar_one() == 1
        assert pings == []  # a new connection, then the same one back at once

        time.sleep(PG_PING_AFTER_IDLE_S + 0.1)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
        assert pings == [1]
    finally:
        engine.dispose()
