"""Bad input, anywhere in the API, is answered with a 4xx whose body names the field, and
stores nothing: NUL characters, bodies that are not UTF-8 JSON, oversized strings, deep
nesting, wrong types, a bad ``Content-Length``. On SQLite and PostgreSQL (which cannot
store a NUL character at all: without the check these were 500s there)."""

from __future__ import annotations

import asyncio
import json

import pytest
from service_helpers import count_events, post_events

from driftrec.service.validation import MAX_ATTRIBUTE_DEPTH

NUL = "a\x00b"
EVENT = {"user_id": "u1", "item_id": "space-0"}


def events(*bad: dict) -> dict:
    """A batch whose first event is fine and whose second one is ``bad``."""
    return {"events": [EVENT, *({**EVENT, **b} for b in bad)]}


def assert_names(response, status: int, loc: list, says: str = "") -> None:
    """The answer has ``status`` and a body naming ``loc`` (detail and message alike)."""
    assert response.status_code == status, (loc, response.status_code, response.text)
    body = response.json()
    assert body["detail"][0]["loc"] == loc, body
    assert body["message"].startswith(".".join(str(x) for x in loc) + ":"), body
    assert says in body["detail"][0]["msg"], body


# method, path, JSON body, the field it names
NUL_CASES = [
    ("POST", "/v1/events", events({"user_id": NUL}), ["body", "events", 1, "user_id"]),
    ("POST", "/v1/events", events({"item_id": NUL}), ["body", "events", 1, "item_id"]),
    ("POST", "/v1/events", events({"text": NUL}), ["body", "events", 1, "text"]),
    ("POST", "/v1/events", events({"event_id": NUL}), ["body", "events", 1, "event_id"]),
    ("PUT", "/v1/items/a%00b", {"title": "T"}, ["path", "item_id"]),
    ("PUT", "/v1/items/new", {"title": NUL}, ["body", "title"]),
    ("PUT", "/v1/items/new", {"text": NUL}, ["body", "text"]),
    ("PUT", "/v1/items/new", {"attributes": {"genres": ["Crime", NUL]}}, ["body", "attributes"]),
    ("PUT", "/v1/items/new", {"attributes": {NUL: 1}}, ["body", "attributes"]),
    ("POST", "/v1/items", {"items": [{"item_id": NUL}]}, ["body", "items", 0, "item_id"]),
    ("POST", "/v1/recommendations/query", {"query": NUL}, ["body", "query"]),
    ("POST", "/v1/recommendations/query", {"query": "q", "user_id": NUL}, ["body", "user_id"]),
    ("POST", "/v1/admin/reload", {"model_dir": NUL}, ["body", "model_dir"]),
    ("GET", "/v1/users/a%00b/recommendations", None, ["path", "user_id"]),
    ("GET", "/v1/users/a%00b/profile", None, ["path", "user_id"]),
    ("GET", "/v1/users/a%00b/interest-history", None, ["path", "user_id"]),
    ("GET", "/v1/users/a%00b/export", None, ["path", "user_id"]),
    ("DELETE", "/v1/users/a%00b", None, ["path", "user_id"]),
    ("GET", "/v1/items/a%00b", None, ["path", "item_id"]),
    ("GET", "/v1/items/a%00b/similar", None, ["path", "item_id"]),
    ("DELETE", "/v1/items/a%00b", None, ["path", "item_id"]),
]


def test_nul_characters_are_rejected_in_every_string_field(client):
    for method, path, body, loc in NUL_CASES:
        response = client.request(method, path, json=body)
        assert_names(response, 422, loc, "NUL")
    assert count_events(client) == 0
    assert client.get("/v1/items/new").status_code == 404
    # and a NUL-free request of each kind goes through
    post_events(client, EVENT)
    assert client.put("/v1/items/new", json={"title": "T", "attributes": {"a": ["b"]}}
                      ).status_code == 200


def test_the_schema_publishes_the_rule(client):
    schema = client.get("/openapi.json").json()
    event = schema["components"]["schemas"]["EventIn"]["properties"]
    assert event["user_id"]["pattern"] == "^[^\\x00]*$"
    params = schema["paths"]["/v1/users/{user_id}/profile"]["get"]["parameters"]
    assert params[0]["schema"]["pattern"] == "^[^\\x00]*$"


def test_a_body_that_is_not_utf8_json_names_the_body(client):
    raw = b'{"events": [{"user_id": "\xff\xfe", "item_id": "i"}]}'
    response = client.post("/v1/events", content=raw,
                           headers={"content-type": "application/json"})
    assert_names(response, 422, ["body"], "UTF-8")
    response = client.post("/v1/events", content=b'{"events": [',
                           headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"][0] == "body"
    lone_surrogate = b'{"events": [{"user_id": "\\ud800", "item_id": "i"}]}'
    response = client.post("/v1/events", content=lone_surrogate,
                           headers={"content-type": "application/json"})
    assert_names(response, 422, ["body", "events", 0, "user_id"])
    response = client.put("/v1/items/new", content=b'{"attributes": {"k": "\\udfff"}}',
                          headers={"content-type": "application/json"})
    assert_names(response, 422, ["body", "attributes"], "Unicode")
    assert count_events(client) == 0


def test_oversized_strings_name_the_field(client):
    settings = client.app.state.core.settings
    long_id = "u" * (settings.max_id_length + 1)
    long_text = "t" * (settings.max_text_length + 1)
    cases = [
        ("POST", "/v1/events", events({"user_id": long_id}), ["body", "events", "1", "user_id"]),
        ("POST", "/v1/events", events({"text": long_text}), ["body", "events", "1", "text"]),
        ("PUT", "/v1/items/new", {"title": long_text}, ["body", "title"]),
        ("POST", "/v1/recommendations/query", {"query": long_text}, ["body", "query"]),
        ("GET", f"/v1/users/{long_id}/profile", None, ["path", "user_id"]),
        # beyond the hard cap the schema publishes, the schema's own check answers
        ("GET", f"/v1/users/{'u' * 300}/profile", None, ["path", "user_id"]),
        ("GET", f"/v1/users/u1/recommendations?k={settings.max_k + 1}", None, ["query", "k"]),
    ]
    for method, path, body, loc in cases:
        assert_names(client.request(method, path, json=body), 422, loc)
    assert count_events(client) == 0


def test_deep_nesting_names_the_field_or_the_body(client):
    deep: object = 1
    for _ in range(MAX_ATTRIBUTE_DEPTH):
        deep = {"a": deep}
    response = client.put("/v1/items/new", json={"attributes": deep})
    assert_names(response, 422, ["body", "attributes"], "nested deeper")
    # deeper than the JSON parser goes
    raw = b'{"attributes": {"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}"
    response = client.put("/v1/items/new", content=raw,
                          headers={"content-type": "application/json"})
    assert_names(response, 422, ["body"], "nested too deeply")
    ok = client.put("/v1/items/new", json={"attributes": {"a": {"b": [1, {"c": "d"}]}}})
    assert ok.status_code == 200 and ok.json()["attributes"] == {"a": {"b": [1, {"c": "d"}]}}


def test_wrong_types_and_values_name_the_field(client):
    nan = b'{"title": "T", "attributes": {"score": NaN}}'
    cases = [
        ("POST", "/v1/events", events({"value": "high"}), ["body", "events", 1, "value"]),
        ("POST", "/v1/events", events({"timestamp": True}), ["body", "events", 1, "timestamp"]),
        ("POST", "/v1/events", events({"value": False}), ["body", "events", 1, "value"]),
        ("POST", "/v1/events", {"events": EVENT}, ["body", "events"]),
        ("POST", "/v1/events", events({"value": 1e300 * 10}), ["body", "events", 1, "value"]),
        ("PUT", "/v1/items/new", {"attributes": ["Crime"]}, ["body", "attributes"]),
        ("PUT", "/v1/items/new", {"attributes": {"views": 2**64}}, ["body", "attributes"]),
        ("GET", "/v1/users/u1/recommendations?k=ten", None, ["query", "k"]),
        ("POST", "/v1/recommendations/query", {"query": "q", "k": "all"}, ["body", "k"]),
        ("POST", "/v1/recommendations/query", {"query": "q", "k": True}, ["body", "k"]),
        ("POST", "/v1/recommendations/query", {"query": "q", "diversity": True},
         ["body", "diversity"]),
    ]
    for method, path, body, loc in cases:
        raw = json.dumps(body).encode() if body is not None else None
        response = client.request(method, path, content=raw,
                                  headers={"content-type": "application/json"})
        assert_names(response, 422, loc)
    response = client.put("/v1/items/new", content=nan,
                          headers={"content-type": "application/json"})
    assert_names(response, 422, ["body", "attributes"], "finite")
    assert count_events(client) == 0
    assert client.get("/v1/items/new").status_code == 404


def raw_request(app, method: str, path: str, headers: list[tuple[bytes, bytes]],
                body: bytes) -> tuple[int, dict]:
    """One request straight to the ASGI app, with exactly these headers (an HTTP client
    would repair a bad ``Content-Length``)."""
    sent: list[dict] = []
    chunks = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict:
        return chunks.pop(0) if chunks else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "server": ("testserver", 80),
             "client": ("127.0.0.1", 1), "headers": headers}
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body_out = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body_out)


@pytest.mark.parametrize("length", [b"abc", b"-1", b"1.5", b""])
def test_a_bad_content_length_is_400_naming_the_header(client, length):
    body = json.dumps({"events": [EVENT]}).encode()
    headers = [(b"host", b"testserver"), (b"content-type", b"application/json"),
               (b"x-api-key", client.headers["x-api-key"].encode()),
               (b"content-length", length)]
    status, answer = raw_request(client.app, "POST", "/v1/events", headers, body)
    assert status == 400
    assert answer["detail"][0]["loc"] == ["header", "content-length"]
    assert answer["message"].startswith("header.content-length:")
    # two different lengths (a request-smuggling shape) are refused alike
    twice = [*headers[:-1], (b"content-length", str(len(body)).encode()),
             (b"content-length", b"5")]
    assert raw_request(client.app, "POST", "/v1/events", twice, body)[0] == 400
    assert count_events(client) == 0
    right = [*headers[:-1], (b"content-length", str(len(body)).encode())]
    assert raw_request(client.app, "POST", "/v1/events", right, body)[0] == 200
