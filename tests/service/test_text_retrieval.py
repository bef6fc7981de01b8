"""Past ``ann_threshold`` catalogue items, text similarity comes from an approximate index:
the same answers as exact search where the index finds the true neighbours, and items
written after the index was built are found."""

from __future__ import annotations

import pytest
from service_helpers import post_events

pytest.importorskip("faiss")


def similar_ids(client, item_id: str, k: int = 6) -> list[str]:
    return [i["item_id"] for i in client.get(f"/v1/items/{item_id}/similar?k={k}").json()["items"]]


def test_similar_items_and_content_lists_past_the_threshold_match_exact_search(make_client):
    exact = make_client()
    retrieved = make_client(ann_threshold=10)
    assert not exact.app.state.core.engine.text.approximate()
    text = retrieved.app.state.core.engine.text
    assert text.approximate()
    assert text._current().kind == "faiss-ivf"  # built at start-up, before any request
    for item in ("romance-0", "crime-3", "comedy-7"):
        assert similar_ids(retrieved, item) == similar_ids(exact, item)

    # written after the index was built: indexed at the next request, in both processes
    assert retrieved.put("/v1/items/romance-new", json={
        "title": "Kiss Wedding Letters", "attributes": {"genres": "Romance"}}).status_code == 200
    assert "romance-new" in similar_ids(retrieved, "romance-0", k=10)
    assert similar_ids(retrieved, "romance-0", k=10) == similar_ids(exact, "romance-0", k=10)

    # re-embedded under a new text: found by its new meaning, not its old one
    assert retrieved.put("/v1/items/romance-new", json={
        "title": "Heist Detective Mob", "attributes": {"genres": "Crime"}}).status_code == 200
    assert "romance-new" not in similar_ids(retrieved, "romance-0", k=8)
    assert similar_ids(retrieved, "crime-0", k=10) == similar_ids(exact, "crime-0", k=10)

    # a user the model cannot place is ranked by content similarity, from the index
    post_events(retrieved, {"user_id": "newcomer", "item_id": "romance-new",
                            "event_type": "purchase"})
    lists = [c.get("/v1/users/newcomer/recommendations?k=5").json()["items"]
             for c in (retrieved, exact)]
    assert lists[0] == lists[1]
    assert lists[0][0]["source"] == "content" and lists[0][0]["item_id"].startswith("crime-")
