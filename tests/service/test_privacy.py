"""Pseudonymisation: raw user ids never reach the database or the service's logs."""

from __future__ import annotations

import logging
from pathlib import Path

from service_helpers import post_events
from sqlalchemy import text

from driftrec.store import tables

RAW = "alice.raw.id.7731@example.org"


def exercise(client) -> None:
    post_events(client, *[{"user_id": RAW, "item_id": f"space-{i}", "event_id": f"ev{i}",
                           "text": "rockets" if i == 0 else None} for i in range(4)])
    for path in ("recommendations?k=5&diversity=0.5", "profile", "interest-history",
                 "export"):
        assert client.get(f"/v1/users/{RAW}/{path}").status_code == 200
    client.post("/v1/recommendations/query", json={"query": "space", "user_id": RAW})
    client.get(f"/v1/users/{RAW}/recommendations?k=0")  # a rejected request too


def test_raw_user_ids_are_absent_from_the_database(client, caplog):
    caplog.set_level(logging.DEBUG)
    exercise(client)
    store = client.app.state.core.store
    if store.dialect == "sqlite":
        db = Path(store.engine.url.database)
        files = [p for p in db.parent.iterdir() if p.name.startswith(db.name)]
        blob = b"".join(p.read_bytes() for p in files)
        assert len(blob) > 10_000
        assert b"space-0" in blob  # the data is there ...
        assert RAW.encode() not in blob  # ... the raw id is not
        assert RAW.encode("utf-16-le") not in blob
    else:
        with store.engine.connect() as conn:
            for table in tables.metadata.sorted_tables:
                dump = conn.execute(text(f"SELECT t::text FROM {table.name} t")).scalars()
                assert not any(RAW in row for row in dump), table.name
    service_logs = [r.getMessage() for r in caplog.records if r.name.startswith("driftrec")]
    assert service_logs and not any(RAW in line for line in service_logs)
    assert store.user_key(RAW) != RAW and len(store.user_key(RAW)) == 64


def test_the_same_id_maps_to_the_same_key_only_under_the_same_secret(make_client):
    a = make_client().app.state.core.store
    b = make_client(id_secret="another-secret").app.state.core.store
    assert a.user_key("u1") == a.user_key("u1")
    assert a.user_key("u1") != b.user_key("u1")


def test_metrics_name_route_templates_not_user_ids(client):
    exercise(client)
    body = client.get("/metrics").text
    assert 'route="/v1/users/{user_id}/recommendations"' in body
    assert RAW not in body
