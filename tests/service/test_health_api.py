"""Health endpoints and Prometheus metrics."""

from __future__ import annotations

from service_helpers import post_events


def test_live_and_ready(client):
    assert client.get("/health/live").json() == {"status": "ok"}
    ready = client.get("/health/ready").json()
    assert ready["status"] == "ok"
    assert ready["checks"]["database"] == "ok"
    assert ready["checks"]["model"].startswith("itemknn-")


def test_metrics_count_requests_latencies_and_events(client):
    post_events(client, {"user_id": "u1", "item_id": "space-0", "event_id": "m1"},
                {"user_id": "u1", "item_id": "space-1"})
    post_events(client, {"user_id": "u1", "item_id": "space-0", "event_id": "m1"})
    client.get("/v1/users/u1/recommendations")
    body = client.get("/metrics").text
    assert "driftrec_events_ingested_total 2.0" in body
    assert "driftrec_events_duplicate_total 1.0" in body
    assert 'driftrec_requests_total{method="POST",route="/v1/events",status="200"} 2.0' in body
    assert 'driftrec_request_latency_seconds_count{method="GET",' \
           'route="/v1/users/{user_id}/recommendations"} 1.0' in body
    assert 'driftrec_recommendations_total{source="itemknn"} 1.0' in body
