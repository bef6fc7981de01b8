"""Dashboard pages in process (SQLite and PostgreSQL): login, overview, user, segments,
item and search pages, acting as a user, UTF-8 and escaping."""

from __future__ import annotations

import base64
import html
import json
import re

import numpy as np
import pytest
from service_helpers import ADMIN_KEY, READ_KEY, post_events

from driftrec.web import charts
from driftrec.web.views import _quantile, core_axes, replay

DAY = 86_400
FIGURE = re.compile(r'<script type="application/json" id="fig-([\w-]+)">(.*?)</script>', re.S)


def figures(page: str) -> dict[str, dict]:
    """The Plotly figures a page embeds, by name."""
    return {name: json.loads(body) for name, body in FIGURE.findall(page)}


def visible_text(page: str) -> str:
    """What a reader sees: the page without scripts, tags and attribute values."""
    page = re.sub(r"<script.*?</script>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]*>", " ", page))


def values(array: list | dict | None) -> np.ndarray:
    """A trace's array, whether plain JSON or Plotly's base64 typed array."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"]))
    return np.asarray(array if array is not None else [])


def n_points(trace: dict) -> int:
    return len(values(trace.get("x")))


def history(user: str, items: list[str], start: int = 1_700_000_000) -> list[dict]:
    return [{"user_id": user, "item_id": item, "event_type": "rating", "value": 5.0,
             "timestamp": start + DAY * i} for i, item in enumerate(items)]


def test_pages_need_a_key_and_the_login_sets_an_httponly_cookie(api, make_client):
    anonymous = make_client(key=None)
    assert anonymous.get("/dashboard", follow_redirects=False).headers["location"] == \
        "/dashboard/login"
    assert anonymous.get("/dashboard/users/u1", follow_redirects=False).status_code == 303
    bad = anonymous.post("/dashboard/login", data={"api_key": "nope"})
    assert bad.status_code == 200 and "unknown key" in bad.text
    assert "driftrec_api_key" not in anonymous.cookies
    ok = anonymous.post("/dashboard/login", data={"api_key": READ_KEY}, follow_redirects=False)
    cookie = ok.headers["set-cookie"].lower()
    assert ok.status_code == 303 and "httponly" in cookie and "samesite=strict" in cookie
    page = anonymous.get("/dashboard")
    assert page.status_code == 200 and "Overview" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    out = anonymous.post("/dashboard/logout", follow_redirects=False)
    assert out.status_code == 303 and "driftrec_api_key" not in anonymous.cookies


def test_overview_counts_events_per_minute_and_shows_model_and_service(api, browser_like):
    post_events(api, *history("u1", ["space-0", "space-1", "space-2"]),
                {"user_id": "u2", "item_id": "crime-0", "event_type": "view",
                 "timestamp": 1_700_000_000 + 2 * DAY - 120})
    page = browser_like(READ_KEY).get("/dashboard")
    assert page.status_code == 200
    text = visible_text(page.text)
    assert re.search(r"\b2\s+users\b", text) and re.search(r"\b4\s+events\b", text)
    figs = figures(page.text)
    per_minute = figs["per_minute"]["data"]
    assert {t["name"] for t in per_minute} == {"rating", "view"}
    counts = {t["name"]: int(values(t["y"]).sum()) for t in per_minute}
    assert counts == {"rating": 1, "view": 1}  # the day up to the latest event
    assert n_points(per_minute[0]) == 1440
    assert "itemknn" in text and "synthetic" in text  # the bundle's training data
    latency = figs["latency"]["data"]
    assert any("POST /v1/events" in y for y in latency[0]["y"])


def test_user_page_draws_the_trajectory_drift_topics_and_recommendations(api, browser_like):
    items = ["space-0", "space-1", "space-2", "space-3", "crime-0", "crime-1"]
    post_events(api, *history("dash user", items))
    browser = browser_like(READ_KEY)
    found = browser.get("/dashboard", params={"user_id": "dash user"}, follow_redirects=False)
    assert found.headers["location"] == "/dashboard/users/dash%20user"
    page = browser.get("/dashboard/users/dash user")
    assert page.status_code == 200
    figs = figures(page.text)
    traces = {t.get("name"): t for t in figs["trajectory"]["data"]}
    assert n_points(traces["long-term interest"]) == len(items)
    assert n_points(traces["short-term interest"]) == len(items)
    assert n_points(traces["catalogue"]) == 32
    assert len(traces["rating events"]["text"]) == len(items)
    assert n_points(figs["drift"]["data"][0]) == len(items)
    assert {t["name"] for t in figs["shares"]["data"]} == {"Sci-Fi", "Crime"}
    assert figs["clusters"]["data"][0]["type"] == "bar"
    text = visible_text(page.text)
    assert "Sci-Fi" in text and "because you recently rated" in text
    assert "Star (Sci-Fi story)" in text  # recent events by title
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", text)  # readable times
    assert not re.search(r"\b(space|crime|romance|comedy)-\d\b", text)  # no raw item ids
    assert "act as this user" not in text  # read key: no buttons


def test_the_replay_ends_where_the_stored_interest_state_is(api):
    post_events(api, *history("replayed", ["space-0", "crime-1", "space-2", "romance-3"]),
                {"user_id": "replayed", "item_id": "query", "event_type": "search",
                 "text": "Heist Detective", "timestamp": 1_700_000_000 + 9 * DAY})
    core = api.app.state.core
    key = core.store.user_key("replayed")
    ctx = core.engine.user_context(key)
    rep = replay(core, core.store.user_events(key))
    mean, axes = core_axes(core)
    assert np.allclose(rep.long_xy[-1], axes @ (ctx.state.long_term - mean), atol=1e-5)
    assert np.allclose(rep.short_xy[-1], axes @ (ctx.state.short_term - mean), atol=1e-5)
    assert rep.drift[-1] == pytest.approx(ctx.state.drift, abs=1e-5)
    assert np.isfinite(rep.event_xy[-1]).all()  # the search sits where its text is


def test_an_unknown_user_page_says_so(browser_like):
    page = browser_like(READ_KEY).get("/dashboard/users/nobody-here")
    assert page.status_code == 404
    assert "No user “nobody-here”: nothing is stored for this id" in page.text


def test_an_admin_acts_as_the_user_through_the_events_api(api, browser_like):
    post_events(api, *history("actor", ["space-0", "space-1"]))
    admin = browser_like(ADMIN_KEY)
    page = admin.get("/dashboard/users/actor")
    assert "act as this user" in page.text
    before = [t for t in re.findall(r'name="item_id" value="([^"]+)"', page.text)]
    target = before[0]
    events_before = api.app.state.core.store.count_events()
    done = admin.post("/dashboard/users/actor/events",
                      data={"item_id": target, "event_type": "like", "diversity": "0.3"},
                      follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"].startswith("/dashboard/users/actor?diversity=0.3&acted=like")
    after = admin.get(done.headers["location"])
    assert "Recorded like on" in after.text
    assert api.app.state.core.store.count_events() == events_before + 1
    stored = api.get("/v1/users/actor/export").json()["events"][-1]
    assert (stored["item_id"], stored["event_type"]) == (target, "like")
    recs = re.findall(r'name="item_id" value="([^"]+)"', after.text)
    assert target not in recs and recs != before
    traces = {t.get("name"): t for t in figures(after.text)["trajectory"]["data"]}
    assert n_points(traces["long-term interest"]) == 3
    # a search as the user goes through the API too, with its text
    admin.post("/dashboard/users/actor/events",
               data={"event_type": "search", "text": "Heist Detective"})
    assert api.get("/v1/users/actor/export").json()["events"][-1]["text"] == "Heist Detective"
    # the API's own checks still apply: an unknown event type, an over-long id
    assert admin.post("/dashboard/users/actor/events",
                      data={"item_id": target, "event_type": "purchase"}).status_code == 422
    long_id = admin.post("/dashboard/users/actor/events",
                         data={"item_id": "x" * 300, "event_type": "view"})
    assert "the API answered 422" in long_id.text


def test_acting_needs_an_admin_key_from_this_site(api, browser_like):
    post_events(api, *history("guarded", ["space-0"]))
    reader = browser_like(READ_KEY)
    refused = reader.post("/dashboard/users/guarded/events",
                          data={"item_id": "space-1", "event_type": "like"})
    assert refused.status_code == 403
    admin = browser_like(ADMIN_KEY)
    forged = admin.post("/dashboard/users/guarded/events",
                        data={"item_id": "space-1", "event_type": "like"},
                        headers={"Origin": "http://evil.example"})
    assert forged.status_code == 403
    assert len(api.get("/v1/users/guarded/export").json()["events"]) == 1


def test_chinese_titles_added_through_the_api_show_everywhere(api, browser_like):
    titles = {"zh-1": "星际穿越：太空冒险", "zh-2": "星际迷航 银河系", "zh-3": "红楼梦 爱情故事"}
    for item_id, title in titles.items():
        response = api.put(f"/v1/items/{item_id}", json={
            "title": title, "text": "一部关于星际旅行的电影", "attributes": {"genres": ["科幻"]}})
        assert response.status_code == 200, response.text
    post_events(api, *history("读者", ["zh-1", "zh-3"]))
    browser = browser_like(READ_KEY)
    page = browser.get("/dashboard/users/读者")
    assert page.status_code == 200 and page.headers["content-type"] == \
        "text/html; charset=utf-8"
    text = visible_text(page.text)
    assert "读者" in text and "星际穿越：太空冒险" in text and "红楼梦 爱情故事" in text
    assert "科幻" in text  # a topic from the item's attributes
    traces = {t.get("name"): t for t in figures(page.text)["trajectory"]["data"]}
    assert "星际穿越：太空冒险" in traces["rating events"]["text"][0]
    search = visible_text(browser.get("/dashboard/search", params={"q": "星际"}).text)
    assert "星际穿越：太空冒险" in search and "星际迷航 银河系" in search
    assert "红楼梦" not in search.split("Recommended for")[0]
    item = browser.get("/dashboard/items/zh-2")
    assert "星际迷航 银河系" in item.text and "一部关于星际旅行的电影" in item.text


def test_titles_and_ids_are_escaped_in_html_and_in_chart_data(api, browser_like):
    evil = '</script><script>alert(1)</script><b>bold</b> & "quoted"'
    api.put("/v1/items/evil", json={"title": evil, "attributes": {"genres": ["<i>x</i>"]}})
    post_events(api, *history("<img src=x onerror=alert(1)>", ["evil", "space-0"]))
    browser = browser_like(READ_KEY)
    page = browser.get("/dashboard/users/<img src=x onerror=alert(1)>")
    assert page.status_code == 200
    assert "<script>alert(1)" not in page.text and "<img src=x" not in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in page.text  # the events table
    body = FIGURE.findall(page.text)
    assert body and all("</" not in b and "<b>" not in b for _, b in body)
    traces = {t.get("name"): t for t in figures(page.text)["trajectory"]["data"]}
    # Plotly reads labels as markup: they are escaped for it too
    assert "&lt;b&gt;bold&lt;/b&gt;" in " ".join(traces["rating events"]["text"])
    item = browser.get("/dashboard/items/evil")
    assert "<b>bold</b>" not in item.text and "&lt;b&gt;bold&lt;/b&gt;" in item.text


def test_segments_page_shows_sizes_profiles_top_items_and_drift(api, browser_like):
    topics = ["space", "crime", "romance", "comedy"]
    events = []
    for u in range(16):
        topic = topics[u % 4]
        events += history(f"seg-{u}", [f"{topic}-{j}" for j in range(4)] + [f"{topic}-{u % 8}"])
    post_events(api, *events)
    assert api.post("/v1/admin/segments/rebuild").json()["segments"]
    page = browser_like(READ_KEY).get("/dashboard/segments")
    figs = figures(page.text)
    assert values(figs["sizes"]["data"][0]["x"]).sum() == 16
    assert {t["type"] for t in figs["drift"]["data"]} == {"box"}
    text = visible_text(page.text)
    assert "Sci-Fi" in text and "(Sci-Fi story)" in text and "median drift" in text
    overview = visible_text(browser_like(READ_KEY).get("/dashboard").text)
    assert "All about segments" in overview


def test_item_page_shows_text_popularity_similar_items_and_segments(api, browser_like):
    post_events(api, *history("fan", ["space-0", "space-1"]),
                *history("other fan", ["space-1"], start=1_700_100_000))
    browser = browser_like(READ_KEY)
    page = browser.get("/dashboard/items/space-1")
    assert page.status_code == 200
    text = visible_text(page.text)
    assert "Galaxy (Sci-Fi story)" in text and "Sci-Fi" in text
    figs = figures(page.text)
    assert sum(n_points(t) for t in figs["popularity"]["data"]) >= 1
    assert all("Sci-Fi" in y for y in figs["similar"]["data"][0]["y"][:3])
    assert re.search(r"\b2\s+users\b", text)
    missing = browser.get("/dashboard/items/no-such-item")
    assert missing.status_code == 404 and "no item “no-such-item”" in missing.text


def test_search_finds_a_user_items_by_title_words_and_recommends_from_text(api, browser_like):
    post_events(api, *history("searchable", ["crime-0"]))
    browser = browser_like(READ_KEY)
    user = browser.get("/dashboard/search", params={"q": "searchable"})
    assert 'href="/dashboard/users/searchable"' in user.text
    items = visible_text(browser.get("/dashboard/search", params={"q": "heist crime"}).text)
    assert "Heist (Crime story)" in items
    assert "No user “heist crime”" in items
    free = browser.get("/dashboard/search", params={"q": "Kiss Wedding Romance"}).text
    recommended = visible_text(free).split("Recommended for")[1]
    assert "(Romance story)" in recommended and "matches" in recommended


def test_plotly_js_comes_from_the_installed_package(api, browser_like):
    browser = browser_like(READ_KEY)
    js = browser.get(f"/dashboard/static/plotly.min.js?v={charts.plotly_version()}")
    assert js.status_code == 200 and js.content == charts.plotly_js_path().read_bytes()
    assert browser.get("/dashboard/static/dashboard.js").status_code == 200
    assert browser.get("/dashboard/static/..%2Fviews.py").status_code == 404
    page = browser.get("/dashboard").text
    assert re.findall(r'<script src="([^"]+)"', page) == [
        f"/dashboard/static/plotly.min.js?v={charts.plotly_version()}",
        "/dashboard/static/dashboard.js"]
    assert "http://" not in page and "https://" not in page


def test_quantiles_from_histogram_buckets():
    buckets = [(0.01, 0.0), (0.1, 50.0), (1.0, 100.0), (float("inf"), 100.0)]
    assert _quantile(buckets, 0.5) == pytest.approx(0.1)
    assert _quantile(buckets, 0.25) == pytest.approx(0.055)
    assert _quantile(buckets, 0.95) == pytest.approx(0.91)
    assert _quantile([(0.1, 0.0), (float("inf"), 3.0)], 0.5) == pytest.approx(0.1)
    assert _quantile([], 0.5) == 0.0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_overview_shows_the_fused_models_weights(make_client, fused_dir):
    api = make_client(model=fused_dir)
    post_events(api, *history("u1", ["space-0", "space-1"]))
    page = api.get("/dashboard")
    weights = figures(page.text)["weights"]["data"][0]
    names = list(weights["y"])
    assert "bias" in names and len(names) >= 3
    expected = api.app.state.core.models.current.model.weights()
    assert dict(zip(names, values(weights["x"]).tolist(), strict=True)) == pytest.approx(
        expected)
    assert "fused" in visible_text(page.text)
