"""The dashboard: login with a key, segments overview, a user's page."""

from __future__ import annotations

import pytest
from service_helpers import READ_KEY, post_events


@pytest.fixture
def browser(make_client):
    return make_client(key=None)


def test_pages_need_a_key_and_the_login_sets_a_cookie(browser, client):
    assert browser.get("/dashboard", follow_redirects=False).headers["location"] == \
        "/dashboard/login"
    bad = browser.post("/dashboard/login", data={"api_key": "nope"}, follow_redirects=False)
    assert "error" in bad.headers["location"]
    ok = browser.post("/dashboard/login", data={"api_key": READ_KEY}, follow_redirects=False)
    assert ok.status_code == 303 and "httponly" in ok.headers["set-cookie"].lower()
    page = browser.get("/dashboard")
    assert page.status_code == 200 and "Segments" in page.text


def test_user_page_shows_profile_drift_and_recommendations(browser, client):
    post_events(client, *[{"user_id": "dash user", "item_id": f"space-{i}",
                           "timestamp": 1000 + 86400 * i} for i in range(3)],
                {"user_id": "dash user", "item_id": "comedy-0", "timestamp": 1000 + 86400 * 5})
    browser.post("/dashboard/login", data={"api_key": READ_KEY})
    found = browser.get("/dashboard", params={"user_id": "dash user"}, follow_redirects=False)
    assert found.headers["location"] == "/dashboard/users/dash%20user"
    page = browser.get("/dashboard/users/dash user")
    assert page.status_code == 200
    assert "<polyline" in page.text  # drift chart
    assert "Sci-Fi" in page.text and "because you recently" in page.text
    assert "<script" not in page.text.lower()
