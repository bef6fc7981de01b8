"""API-key roles: read keys read, admin keys read and write, no key configured means open."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from fastapi.routing import iter_route_contexts
from service_helpers import ADMIN_KEY, READ_KEY

# The rule, from the code (driftrec.service.auth, the routers' dependencies, the dashboard's
# login check):
# * public, whatever the key: health, metrics, the OpenAPI schema and its docs pages, the
#   dashboard's login form, logout and static files;
# * /v1 reads (GET, and POST /v1/recommendations/query, a read with a body) need a read or
#   an admin key; everything else under /v1 needs an admin key: writes, everything under
#   /v1/admin, and GET /v1/users/{user_id}/export (all stored personal data);
# * dashboard pages (GET) need a read or admin key, its other actions an admin key; without
#   a valid key they redirect to the login form (a browser, not a 401).
# A missing or unknown key is 401 on the API; a read key where admin is needed is 403.
PUBLIC_PATHS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/metrics",
                "/dashboard/login", "/dashboard/logout"}
PUBLIC_PREFIXES = ("/health/", "/dashboard/static/")
READ_POSTS = {"/v1/recommendations/query"}
ADMIN_READS = {"/v1/users/{user_id}/export"}


def required_role(method: str, path: str) -> str | None:
    """The role a route needs by the rule above (None: public)."""
    if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
        return None
    reads = method in ("GET", "HEAD")
    if path.startswith("/dashboard"):
        return "read" if reads else "admin"
    if path.startswith("/v1/"):
        if path.startswith("/v1/admin/") or path in ADMIN_READS:
            return "admin"
        return "read" if reads or path in READ_POSTS else "admin"
    raise AssertionError(f"no auth rule for {method} {path}: extend required_role")


# plausible values: u1 and space-0 exist; DELETEs get their own so that later calls still
# find theirs
PATH_VALUES = {"user_id": "u1", "item_id": "space-0", "name": "dashboard.js"}
DELETE_VALUES = {"user_id": "u-erased", "item_id": "space-7"}
BODIES = {
    ("POST", "/v1/events"): {"json": {"events": [{"user_id": "u1", "item_id": "space-1"}]}},
    ("PUT", "/v1/items/{item_id}"): {"json": {"title": "Star (Sci-Fi story)"}},
    ("POST", "/v1/items"): {"json": {"items": [{"item_id": "new", "title": "New"}]}},
    ("POST", "/v1/recommendations/query"): {"json": {"query": "space"}},
    ("POST", "/v1/admin/reload"): {"json": {}},
    ("POST", "/dashboard/login"): {"data": {"api_key": READ_KEY}},
    ("POST", "/dashboard/users/{user_id}/events"): {"data": {"event_type": "view",
                                                             "item_id": "space-2"}},
}


def every_route(app) -> list[tuple[str, str]]:
    """(method, path template) of every route the app serves, its dashboard included."""
    out = []
    for route in iter_route_contexts(app.routes):
        for method in sorted(route.methods or ()):
            out.append((method, route.path))
    return out


def request_for(method: str, path: str) -> tuple[str, dict]:
    values = {**PATH_VALUES, **(DELETE_VALUES if method == "DELETE" else {})}
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    missing = [n for n in names if n not in values]
    assert not missing, f"{method} {path}: add plausible values for {missing}"
    return path.format(**{n: values[n] for n in names}), BODIES.get((method, path), {})


def test_every_route_enforces_its_role(make_client):
    """Each route of the app, each method, with no key, an unknown key, a read key and an
    admin key; removing an auth check from any route fails this."""
    client = make_client(key=None)
    seeded = client.post("/v1/events", headers={"X-API-Key": ADMIN_KEY},
                         json={"events": [{"user_id": "u1", "item_id": "space-0"}]})
    assert seeded.status_code == 200
    routes = every_route(client.app)
    assert len(routes) >= 25 and ("GET", "/dashboard/users/{user_id}") in routes
    roles = {"none": None, "unknown": "not-a-key", "read": READ_KEY, "admin": ADMIN_KEY}
    failures = []
    # DELETEs last, so that what they remove is gone only after everyone else ran
    for method, path in sorted(routes, key=lambda r: r[0] == "DELETE"):
        needs = required_role(method, path)
        url, body = request_for(method, path)
        for who, key in roles.items():
            client.cookies.clear()
            response = client.request(method, url, headers={"X-API-Key": key} if key else {},
                                      follow_redirects=False, **body)
            got = response.status_code
            where = urlsplit(response.headers.get("location", "")).path
            if needs is None:
                ok, expected = got < 400, "2xx/3xx"
            elif who == "admin" or (who == "read" and needs == "read"):
                ok, expected = got < 400 and where != "/dashboard/login", "2xx/3xx"
            elif who == "read":  # needs admin
                ok, expected = got == 403, "403"
            elif path.startswith("/dashboard"):
                ok, expected = got == 303 and where == "/dashboard/login", "303 to the login"
            else:
                ok = got == 401 and response.headers.get("www-authenticate") == "X-API-Key"
                expected = "401"
            if not ok:
                failures.append(f"{method} {path} ({needs or 'public'}) with {who} key: "
                                f"{got} {where}, expected {expected}: {response.text[:120]}")
    assert not failures, "\n".join(failures)


@pytest.fixture
def anon(make_client):
    return make_client(key=None)


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
