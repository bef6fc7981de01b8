"""Catalogue endpoints: upsert with text, read, hide, similar items, batch writes."""

from __future__ import annotations


def test_put_get_and_replace_an_item(client):
    body = {"title": "Blade Runner (1982)", "text": "A blade runner hunts replicants.",
            "attributes": {"genres": ["Sci-Fi", "Noir"], "year": 1982}}
    put = client.put("/v1/items/br", json=body)
    assert put.status_code == 200, put.text
    got = client.get("/v1/items/br").json()
    assert got["title"] == body["title"] and got["attributes"] == body["attributes"]
    assert got["has_embedding"] is True and got["hidden"] is False
    client.put("/v1/items/br", json={**body, "title": "Blade Runner: Final Cut"})
    assert client.get("/v1/items/br").json()["title"] == "Blade Runner: Final Cut"


def test_items_from_the_model_bundle_are_in_the_catalogue(client):
    got = client.get("/v1/items/space-0").json()
    assert got["title"] == "Star (Sci-Fi story)"
    assert got["attributes"]["genres"] == "Sci-Fi"


def test_missing_items_are_404(client):
    assert client.get("/v1/items/nope").status_code == 404
    assert client.delete("/v1/items/nope").status_code == 404
    assert client.get("/v1/items/nope/similar").status_code == 404


def test_delete_hides_the_item(client):
    assert client.delete("/v1/items/comedy-1").json()["hidden"] is True
    assert client.get("/v1/items/comedy-1").json()["hidden"] is True
    similar = client.get("/v1/items/comedy-0/similar?k=40").json()
    assert "comedy-1" not in [i["item_id"] for i in similar["items"]]


def test_similar_items_share_the_topic(client):
    body = client.get("/v1/items/romance-0/similar?k=5").json()
    assert body["item_id"] == "romance-0"
    ids = [i["item_id"] for i in body["items"]]
    assert "romance-0" not in ids
    assert all(i.startswith("romance-") for i in ids)
    assert body["items"][0]["reasons"] == ["similar to Kiss (Romance story)"]


def test_batch_upsert(client):
    items = [{"item_id": f"b{i}", "title": f"Batch item {i}"} for i in range(5)]
    assert client.post("/v1/items", json={"items": items}).json() == {"upserted": 5}
    assert client.get("/v1/items/b4").json()["title"] == "Batch item 4"


def test_bad_item_input_names_the_field(make_client):
    client = make_client(max_text_length=50, max_batch_items=2)
    response = client.put("/v1/items/x", json={"title": "t" * 51})
    assert response.status_code == 422 and "title" in response.text
    response = client.put("/v1/items/x", json={"title": "ok", "price": 3})
    assert response.status_code == 422 and "price" in response.text
    response = client.put("/v1/items/x", json={"attributes": ["not", "a", "dict"]})
    assert response.status_code == 422 and "attributes" in response.text
    response = client.post("/v1/items", json={"items": [{"item_id": str(i)} for i in range(3)]})
    assert response.status_code == 413 and "items" in response.text
    response = client.put(f"/v1/items/{'x' * 300}", json={"title": "long id"})
    assert response.status_code == 422 and "item_id" in response.text
    assert client.get("/v1/items/x").status_code == 404
