"""Markup in data is shown, never run: item titles, texts and attributes written through
``PUT /v1/items``, user ids, search queries and error messages are escaped on every
dashboard page that renders them (the rendered HTML is checked, no browser)."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from service_helpers import READ_KEY, post_events

# Each payload would run script if a page put it into its markup unescaped: as an element,
# by closing the JSON <script> block a chart lives in, or by leaving an attribute's quotes.
TITLE = '<script>alert("title")</script>'
TEXT = '</script><script>alert("text")</script>'
GENRE = '<img src=x onerror=alert("genre")>'
# (no "/" in what goes into a path: a path parameter cannot hold one)
USER = '<img src=x onerror=alert("user")>" onmouseover="alert(1)'
PATH_MARKUP = '<script>alert("path")<script>'
QUERY = '<script>alert("query")</script>'
RUNNABLE = ['<script>alert(', '<img src=x onerror', '" onmouseover="alert(']


def assert_inert(page: str, where: str) -> None:
    for markup in RUNNABLE:
        assert markup not in page, f"{where}: {markup!r} reached the page unescaped"


@pytest.fixture
def pages(client, make_client):
    """A catalogue item and a user full of markup, in segments, and a browser logged in."""
    put = client.put("/v1/items/xss-item", json={
        "title": TITLE, "text": TEXT, "attributes": {"genres": ["Sci-Fi", GENRE]}})
    assert put.status_code == 200
    assert put.json()["title"] == TITLE  # stored as given: escaping is the page's job
    for u in range(10):
        user = USER if u == 0 else f"fan{u}"
        post_events(client, *[{"user_id": user, "item_id": item, "timestamp": 1000 + 3600 * j}
                              for j, item in enumerate(["xss-item", "space-1", "space-2",
                                                        "xss-item", f"crime-{u % 8}"])])
    post_events(client, {"user_id": USER, "item_id": "search", "event_type": "search",
                         "text": QUERY, "timestamp": 90_000})
    assert client.post("/v1/admin/segments/rebuild").status_code == 200
    browser = make_client(key=None)
    assert browser.post("/dashboard/login", data={"api_key": READ_KEY}).status_code == 200
    return browser


def test_item_and_user_markup_is_escaped_on_every_page(pages):
    shown = {
        "overview": pages.get("/dashboard"),
        "user": pages.get(f"/dashboard/users/{quote(USER, safe='')}"),
        "item": pages.get("/dashboard/items/xss-item"),
        "segments": pages.get("/dashboard/segments"),
        "search by title": pages.get("/dashboard/search", params={"q": "alert"}),
        "search by user id": pages.get("/dashboard/search", params={"q": USER}),
        "search by markup": pages.get("/dashboard/search", params={"q": QUERY}),
        "login error": pages.get("/dashboard/login", params={"error": QUERY}),
        "unknown item": pages.get(f"/dashboard/items/{quote(PATH_MARKUP, safe='')}"),
        "unknown user": pages.get(f"/dashboard/users/{quote(PATH_MARKUP, safe='')}"),
    }
    for name, response in shown.items():
        assert response.status_code in (200, 404), (name, response.status_code)
        assert response.headers["content-type"].startswith("text/html"), name
        assert_inert(response.text, name)
    # the markup is there, as text
    assert "&lt;img src=x onerror=alert(&#34;user&#34;)&gt;&#34; onmouseover=" in shown["user"].text
    assert "&lt;script&gt;alert(&#34;title&#34;)" in shown["item"].text
    assert "&lt;img src=x onerror=alert(&#34;genre&#34;)&gt;" in shown["item"].text
    assert "alert(&#34;title&#34;)" in shown["user"].text  # the user's events and recommendations
