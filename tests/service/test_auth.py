"""API-key roles: read keys read, admin keys read and write, no key configured means open."""

from __future__ import annotations

import pytest
from service_helpers import ADMIN_KEY, READ_KEY

READS = [("get", "/v1/users/u1/recommendations", None), ("get", "/v1/users/u1/profile", None),
         ("get", "/v1/users/u1/interest-history", None), ("get", "/v1/items/space-0", None),
         ("get", "/v1/items/space-0/similar", None),
         ("post", "/v1/recommendations/query", {"query": "space"})]
WRITES = [("post", "/v1/events", {"events": [{"user_id": "u1", "item_id": "space-0"}]}),
          ("put", "/v1/items/new", {"title": "New"}), ("delete", "/v1/items/space-1", None),
          ("get", "/v1/users/u1/export", None), ("delete", "/v1/users/u1", None),
          ("post", "/v1/admin/reload", {}), ("get", "/v1/admin/models", None)]


def call(client, method: str, path: str, body, key: str | None):
    headers = {"X-API-Key": key} if key else {}
    kwargs = {"json": body} if body is not None else {}
    return client.request(method.upper(), path, headers=headers, **kwargs)


@pytest.fixture
def anon(make_client):
    return make_client(key=None)


def test_missing_or_unknown_key_is_401(anon):
    for method, path, body in READS + WRITES:
        assert call(anon, method, path, body, None).status_code == 401, path
        assert call(anon, method, path, body, "wrong").status_code == 401, path


def test_read_key_reads_but_cannot_write(anon):
    for method, path, body in READS:
        assert call(anon, method, path, body, READ_KEY).status_code == 200, path
    for method, path, body in WRITES:
        response = call(anon, method, path, body, READ_KEY)
        assert response.status_code == 403, path
        assert "admin" in response.json()["detail"]


def test_admin_key_does_everything(anon):
    for method, path, body in READS + WRITES:
        assert call(anon, method, path, body, ADMIN_KEY).status_code == 200, path


def test_health_and_metrics_need_no_key(anon):
    for path in ("/health/live", "/health/ready", "/metrics"):
        assert anon.get(path).status_code == 200


def test_without_configured_keys_the_api_is_open_and_says_so(make_client, caplog):
    client = make_client(key=None, api_keys_admin=[], api_keys_read=[])
    assert "no API keys configured" in caplog.text
    assert client.post("/v1/events", json={"events": [{"user_id": "u", "item_id": "i"}]}
                       ).status_code == 200


def test_the_openapi_schema_declares_the_key_header(anon):
    schema = anon.get("/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert any(s.get("name") == "X-API-Key" for s in schemes.values())
