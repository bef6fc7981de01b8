"""Small helpers the service tests share."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from driftrec.store import tables


def post_events(client: TestClient, *events: dict) -> dict:
    response = client.post("/v1/events", json={"events": list(events)})
    assert response.status_code == 200, response.text
    return response.json()


def count_rows(client: TestClient, table) -> int:
    store = client.app.state.core.store
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def count_events(client: TestClient) -> int:
    return count_rows(client, tables.events)
