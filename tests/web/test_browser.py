"""The dashboard in a real browser: Debian's Chromium driven by Playwright against a real
``driftrec serve`` (SQLite, hashing encoder, the synthetic item-kNN model).

Skipped only when ``/usr/bin/chromium`` is missing (``apt-get install -y chromium``;
``.ci/run`` installs it). Playwright never downloads a browser here: it launches that one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from service_helpers import ADMIN_KEY, READ_KEY, SECRET

from driftrec.service.process import ServeProcess

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
DAY = 86_400
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="the browser tests need Debian's Chromium at /usr/bin/chromium "
           "(apt-get install -y chromium)")

#: Name, length and sum of y of each trace as Plotly holds them once drawn (``_fullData``:
#: the base64 arrays decoded).
TRACES_JS = """id => document.getElementById(id)._fullData.map(
    t => ({name: t.name || "", n: (t.x || t.y || []).length,
           total: Array.from(t.y || []).reduce((a, b) => a + (+b || 0), 0)}))"""


def seed(url: str) -> None:
    """Items (some with Chinese titles), a user who moves from space to crime, and enough
    users for segments."""
    with httpx.Client(base_url=url, headers={"X-API-Key": ADMIN_KEY}, timeout=30) as api:
        for item_id, title in (("zh-1", "星际穿越"), ("zh-2", "红楼梦")):
            api.put(f"/v1/items/{item_id}", json={
                "title": title, "attributes": {"genres": ["科幻" if item_id == "zh-1" else "爱情"]}}
                    ).raise_for_status()
        start = 1_700_000_000
        path = ["space-0", "space-1", "zh-1", "space-2", "space-3", "crime-0", "crime-1",
                "crime-2"]
        events = [{"user_id": "alice", "item_id": item, "event_type": "rating", "value": 5,
                   "timestamp": start + DAY * i} for i, item in enumerate(path)]
        topics = ["space", "crime", "romance", "comedy"]
        for u in range(16):
            events += [{"user_id": f"member-{u}", "item_id": f"{topics[u % 4]}-{j}",
                        "event_type": "view", "timestamp": start + 3600 * j} for j in range(5)]
        api.post("/v1/events", json={"events": events}).raise_for_status()
        api.post("/v1/admin/segments/rebuild").raise_for_status()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[ServeProcess]:
    tmp = tmp_path_factory.mktemp("browser")
    env = {"DRIFTREC_ID_SECRET": SECRET, "DRIFTREC_API_KEYS_ADMIN": ADMIN_KEY,
           "DRIFTREC_API_KEYS_READ": READ_KEY}
    with ServeProcess(f"sqlite:///{tmp / 'driftrec.db'}", model_dir, tmp / "server.log",
                      env=env) as srv:
        seed(srv.url)
        yield srv


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, server: ServeProcess):
    """A fresh browser tab (no cookies); fails the test on any script error, CSP
    violations included."""
    context = chromium.new_context(base_url=server.url, viewport={"width": 1000, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    tab.script_errors = errors
    yield tab
    context.close()
    assert not errors, errors


def login(page, key: str) -> None:
    page.goto("/dashboard")
    assert page.url.endswith("/dashboard/login")
    page.fill("input[name=api_key]", key)
    page.click("text=Open dashboard")
    page.wait_for_load_state()


def charts_ready(page) -> None:
    page.wait_for_selector("body[data-charts-ready]", timeout=30_000)


def test_a_wrong_key_is_refused(page):
    login(page, "not-a-key")
    assert page.url.endswith("/dashboard/login?error=unknown+key")
    assert page.get_by_role("alert").inner_text() == "unknown key"
    assert page.context.cookies() == []
    page.goto("/dashboard/users/alice")
    assert page.url.endswith("/dashboard/login")


def test_login_and_the_overview_draws_its_charts(page):
    login(page, READ_KEY)
    assert page.url.endswith("/dashboard")
    cookie = page.context.cookies()[0]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    charts_ready(page)
    assert int(page.get_attribute("body", "data-charts-ready")) >= 2
    per_minute = page.evaluate(TRACES_JS, "chart-per_minute")
    assert per_minute and sum(t["total"] for t in per_minute) > 0
    assert page.locator("#chart-per_minute .main-svg").count() >= 1
    latency = page.evaluate(TRACES_JS, "chart-latency")
    assert latency and latency[0]["n"] > 0
    assert page.locator("#chart-latency .bars .point").count() > 0


def test_a_user_page_shows_the_trajectory(page):
    login(page, READ_KEY)
    page.goto("/dashboard/users/alice")
    charts_ready(page)
    traces = {t["name"]: t for t in page.evaluate(TRACES_JS, "chart-trajectory")}
    assert traces["long-term interest"]["n"] == 8
    assert traces["short-term interest"]["n"] == 8
    assert traces["rating events"]["n"] == 8
    assert traces["catalogue"]["n"] == 34
    assert page.locator("#chart-trajectory .scatterlayer .point").count() > 34
    assert page.locator("#chart-shares .scatterlayer .trace").count() >= 2
    assert "星际穿越" in page.inner_text("main")
    assert "act as this user" not in page.inner_text("main")  # a read key


def test_an_event_posted_from_the_form_changes_the_recommendations(page):
    login(page, ADMIN_KEY)
    page.goto("/dashboard/users/alice")
    charts_ready(page)
    before = page.locator("#recommendations td:first-child a").all_inner_texts()
    points = {t["name"]: t["n"] for t in page.evaluate(TRACES_JS, "chart-trajectory")}
    page.locator("#recommendations tr").nth(1).get_by_role("button", name="like").click()
    page.wait_for_url("**/dashboard/users/alice?*acted=like*")
    charts_ready(page)
    assert page.locator(".notice").inner_text() == f"Recorded like on {before[0]}."
    after = page.locator("#recommendations td:first-child a").all_inner_texts()
    assert after != before and before[0] not in after
    now = {t["name"]: t["n"] for t in page.evaluate(TRACES_JS, "chart-trajectory")}
    assert now["long-term interest"] == points["long-term interest"] + 1
    assert now["like events"] == 1
    # the diversity slider re-ranks on change
    page.eval_on_selector("#diversity", """el => { el.value = "0.8";
        el.dispatchEvent(new Event("input")); el.dispatchEvent(new Event("change")); }""")
    page.wait_for_url("**diversity=0.8*")
    charts_ready(page)
    assert page.locator("#diversity-value").inner_text() == "0.8"


def test_an_unknown_user_page_says_so(page):
    login(page, READ_KEY)
    response = page.goto("/dashboard/users/nobody")
    assert response.status == 404
    assert "No user “nobody”: nothing is stored for this id" in page.inner_text("main")
    page.script_errors.remove("Failed to load resource: the server responded with a status "
                              "of 404 (Not Found)")  # the page itself, as it should be


def test_segments_item_and_search_pages_draw(page):
    login(page, READ_KEY)
    page.goto("/dashboard/segments")
    charts_ready(page)
    assert page.evaluate(TRACES_JS, "chart-sizes")[0]["n"] >= 2
    page.goto("/dashboard/search?q=星际")
    page.click("text=星际穿越")
    charts_ready(page)
    assert page.locator("h1").inner_text() == "星际穿越"
    assert page.evaluate(TRACES_JS, "chart-popularity")[0]["total"] == 1
