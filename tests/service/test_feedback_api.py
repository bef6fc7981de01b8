"""The feedback loop through the API: impressions, attribution, labels, weight versions."""

from __future__ import annotations

import time

import httpx
import numpy as np
import pytest
from service_helpers import post_events, server_process
from sqlalchemy import select

from driftrec.store import tables

pytestmark = pytest.mark.slow


def fan_client(make_client, fused_dir, **overrides):
    client = make_client(model=fused_dir, **overrides)
    post_events(client, *[{"user_id": "fan", "item_id": f"crime-{i}", "timestamp": 10 + i}
                          for i in range(4)])
    return client


def served(client, user="fan", k=5):
    body = client.get(f"/v1/users/{user}/recommendations", params={"k": k}).json()
    return body["recommendation_id"], [i["item_id"] for i in body["items"]]


def impressions(client):
    """The stored impressions, once the writer has committed the lists already served."""
    client.app.state.core.writer.flush()
    store = client.app.state.core.store
    with store.engine.connect() as conn:
        return conn.execute(select(tables.impressions)).all()


def test_every_served_list_is_recorded_with_its_features(make_client, fused_dir):
    client = fan_client(make_client, fused_dir)
    rid, items = served(client)
    assert len(rid) == 32
    [row] = impressions(client)
    assert row.recommendation_id == rid and row.weights_version == 0
    shown = row._mapping["items"]
    assert [i[0] for i in shown] == items and [i[1] for i in shown] == list(range(5))
    signals = client.app.state.core.models.current.model.signals
    features = np.frombuffer(row.features, dtype="<f4").reshape(len(shown), -1)
    assert features.shape[1] == len(signals)  # the fused model's signals, one row per item
    assert np.isfinite(features).all()


def test_a_served_list_is_written_before_any_event_that_follows_it(make_client, fused_dir):
    """The answer does not wait for its impression to be written, but the writer's queue
    is first in, first out: an event posted after the list never lands without it."""
    client = fan_client(make_client, fused_dir)
    store = client.app.state.core.store
    rid, items = served(client)
    post_events(client, {"user_id": "fan", "item_id": items[0], "event_type": "click",
                         "recommendation_id": rid})
    with store.engine.connect() as conn:  # no flush: the event's commit carried it
        stored = conn.execute(select(tables.impressions.c.recommendation_id)).scalars().all()
    assert stored == [rid]


def test_labels_by_explicit_id_by_window_and_negatives_after_the_window(make_client,
                                                                        fused_dir):
    client = fan_client(make_client, fused_dir)
    core = client.app.state.core
    first, items = served(client)
    _, items2 = served(client)
    # explicit: names the first list; implicit: same user, shown item, inside the window
    post_events(client, {"user_id": "fan", "item_id": items[0], "event_type": "purchase",
                         "recommendation_id": first},
                {"user_id": "fan", "item_id": items2[1], "event_type": "click"})
    assert core.feedback.run_once(now=time.time())["labelled"] == 0  # windows still open
    report = core.feedback.run_once(now=time.time() + core.settings.feedback.window_s + 5)
    assert report["labelled"] == 2 and report["version"] == 1
    # the implicit click belongs to the latest list that showed the item: the second one
    weights = client.get("/v1/admin/fusion").json()
    assert weights["current"]["version"] == 1
    assert weights["current"]["stats"]["rows"] == len(items) + len(items2)
    assert weights["current"]["stats"]["positives"] == 2
    assert all(r.labelled for r in impressions(client))


def test_an_event_long_after_the_list_is_not_attributed(make_client, fused_dir):
    client = fan_client(make_client, fused_dir, feedback={"window_s": 1.0})
    core = client.app.state.core
    _, items = served(client)
    time.sleep(2.1)  # the window closes: the list's items are negatives
    post_events(client, {"user_id": "fan", "item_id": items[0], "event_type": "purchase"})
    core.feedback.run_once()
    fusion = client.get("/v1/admin/fusion").json()["current"]
    assert fusion["stats"]["positives"] == 0 and fusion["stats"]["rows"] == len(items)


def test_the_served_order_follows_the_active_weights(make_client, fused_dir):
    client = fan_client(make_client, fused_dir)
    core = client.app.state.core
    _, before = served(client, k=10)
    # an extreme weights version that trusts popularity alone
    model = core.models.current.model
    coef = [0.0] * len(model.signals)
    coef[model.signals.index("popularity")] = 5.0
    from driftrec.store import feedback as fb
    with core.store.transaction() as conn, conn.begin():
        fb.write_weights(conn, fb.WeightsRow(0, core.models.current.version, coef, 0.0, 1,
                                             "update", {}, time.time()))
    body = client.get("/v1/users/fan/recommendations", params={"k": 10}).json()
    after = [i["item_id"] for i in body["items"]]
    assert after != before
    pos = {str(i): j for j, i in enumerate(model.item_ids)}
    popularity = [float(model.popularity[pos[i]]) for i in after]
    assert popularity == sorted(popularity, reverse=True)  # the order the weights say
    [*_, last] = impressions(client)
    assert last.weights_version == 1


def test_erasing_a_user_erases_their_impressions(make_client, fused_dir):
    client = fan_client(make_client, fused_dir)
    served(client)
    assert len(impressions(client)) == 1
    assert client.delete("/v1/users/fan").status_code == 200
    assert impressions(client) == []


def test_a_malformed_recommendation_id_is_a_422_naming_the_field(make_client, fused_dir):
    client = make_client(model=fused_dir)
    response = client.post("/v1/events", json={"events": [
        {"user_id": "fan", "item_id": "crime-0", "recommendation_id": "not-an-id"}]})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "recommendation_id"


def test_turning_the_loop_off_keeps_the_offline_weights(make_client, fused_dir):
    client = fan_client(make_client, fused_dir, feedback={"enabled": False})
    core = client.app.state.core
    rid, items = served(client)
    post_events(client, {"user_id": "fan", "item_id": items[0], "event_type": "purchase",
                         "recommendation_id": rid})
    report = core.feedback.run_once(now=time.time() + 4000)
    assert report["labelled"] == 1 and report["version"] is None
    assert client.get("/v1/admin/fusion").json()["current"]["version"] == 0


def test_two_processes_serve_the_same_weights_version(postgres_url, fused_dir, tmp_path):
    with server_process(postgres_url, fused_dir, tmp_path / "a.log") as a, \
            server_process(postgres_url, fused_dir, tmp_path / "b.log") as b, \
            httpx.Client(timeout=30) as http:
        http.post(a.url + "/v1/events", json={"events": [
            {"user_id": "fan", "item_id": f"crime-{i}", "timestamp": 10 + i}
            for i in range(4)]}).raise_for_status()
        rid = http.get(a.url + "/v1/users/fan/recommendations").json()["recommendation_id"]
        # a weights version written through the store (as A's feedback pass would)
        from service_helpers import SECRET

        from driftrec.store import Store
        from driftrec.store import feedback as fb
        store = Store(postgres_url, SECRET)
        version = http.get(a.url + "/v1/admin/fusion").json()["model_version"]
        signals = http.get(a.url + "/v1/admin/fusion").json()["offline"]
        coef = [0.5] * (len(signals) - 1)
        with store.transaction() as conn, conn.begin():
            fb.write_weights(conn, fb.WeightsRow(0, version, coef, 0.0, 1, "update", {},
                                                 time.time()))
        store.close()
        for server in (a, b):
            current = http.get(server.url + "/v1/admin/fusion").json()["current"]
            assert current["version"] == 1
        http.get(b.url + "/v1/users/fan/recommendations").raise_for_status()
        assert rid


def test_with_recording_off_nothing_is_recorded(make_client, fused_dir):
    client = fan_client(make_client, fused_dir, feedback={"record": False})
    rid, items = served(client)
    assert rid is None and items
    assert impressions(client) == []


def test_exploration_fills_the_last_slot_and_counts_what_was_shown(make_client, fused_dir):
    plain = fan_client(make_client, fused_dir)
    _, ranked = served(plain, k=5)
    client = make_client(model=fused_dir, feedback={"explore_slots": 1, "explore_pool": 10,
                                                    "explore_max_impressions": 2})
    core = client.app.state.core
    body = client.get("/v1/users/fan/recommendations", params={"k": 5}).json()
    items = [i["item_id"] for i in body["items"]]
    # The first four are the model's own; the fifth comes from just below them.
    assert items[:4] == ranked[:4] and items[4] not in ranked[:4]
    assert body["items"][4]["source"] == "explore" and body["items"][4]["reasons"]
    post_events(client, {"user_id": "fan", "item_id": items[4], "event_type": "click",
                         "recommendation_id": body["recommendation_id"]})
    core.feedback.run_once(now=time.time() + core.settings.feedback.window_s + 5)
    counts = core.store.item_feedback()
    # The explored item was shown once and clicked; the top item was in both lists.
    assert counts[items[4]] == (1, 1) and counts[items[0]] == (2, 0)


def test_exploration_is_off_by_default(make_client, fused_dir):
    client = fan_client(make_client, fused_dir)
    assert client.app.state.core.engine.explorer is None
    body = client.get("/v1/users/fan/recommendations", params={"k": 5}).json()
    assert all(i["source"] != "explore" for i in body["items"])
