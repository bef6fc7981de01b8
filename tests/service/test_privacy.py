"""Pseudonymisation: raw user ids never reach the database or the service's logs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
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


def test_request_log_lines_name_routes_never_raw_user_ids(client, caplog):
    """The service logs one line per request with the route template; no log line of the
    service (access log, warnings, errors, rejected input) carries the raw user id."""
    caplog.set_level(logging.DEBUG)
    exercise(client)
    assert client.get(f"/v1/users/{RAW}{'x' * 300}/profile").status_code == 422
    assert client.post("/v1/events", json={"events": [{"user_id": RAW + "\x00",
                                                       "item_id": "space-0"}]}
                       ).status_code == 422
    assert client.get(f"/dashboard/users/{RAW}").status_code == 200
    assert client.delete(f"/v1/users/{RAW}").status_code == 200

    access = [r.getMessage() for r in caplog.records if r.name == "driftrec.service.access"]
    for line in ("POST /v1/events 200", "GET /v1/users/{user_id}/profile 200",
                 "GET /v1/users/{user_id}/recommendations 422",
                 "GET /v1/users/{user_id}/profile 422", "POST /v1/events 422",
                 "GET /dashboard/users/{user_id} 200", "DELETE /v1/users/{user_id} 200"):
        assert any(a.startswith(line) for a in access), (line, access)
    # everything but the test's own HTTP client (httpx logs the URLs it requests)
    served = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    for record in served:
        text = record.getMessage() + (record.exc_text or "")
        assert RAW not in text, (record.name, text)


@pytest.mark.parametrize("workers", [1, 2])
def test_driftrec_serve_turns_uvicorn_access_log_off(tmp_path, monkeypatch, workers):
    """uvicorn's access log would print request paths, which carry raw user ids."""
    import uvicorn
    import uvicorn.supervisors
    from typer.testing import CliRunner

    from driftrec.cli import app as cli_app

    calls: list[bool] = []  # access_log of each server started

    class Supervisor:  # several workers: uvicorn's process supervisor, not started here
        def __init__(self, config, sockets) -> None:
            calls.append(config.access_log)  # no worker starts: none binds a listener

        def run(self) -> None:
            pass

    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append(kwargs["access_log"]))
    monkeypatch.setattr(uvicorn.supervisors, "Multiprocess", Supervisor)
    db = f"sqlite:///{tmp_path / 'd.db'}"
    # serve --workers exports its settings: set here, they are restored afterwards
    monkeypatch.setenv("DRIFTREC_DATABASE_URL", db)
    monkeypatch.setenv("DRIFTREC_ENCODER", "hashing")
    monkeypatch.delenv("DRIFTREC_MODEL_DIR", raising=False)
    monkeypatch.setenv("DRIFTREC_ID_SECRET", "s")
    result = CliRunner().invoke(cli_app, ["serve", "--db", db, "--encoder", "hashing",
                                          "--workers", str(workers)])
    assert result.exit_code == 0, result.output
    assert calls == [False]
