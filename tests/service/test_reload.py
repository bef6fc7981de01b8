"""Model reload: a new model version is served without dropping a request, everywhere."""

from __future__ import annotations

import shutil
import threading

from service_helpers import train_bundle


def test_reload_switches_to_the_newest_version_without_dropping_requests(make_client,
                                                                        model_dir, tmp_path):
    versions = tmp_path / "versions"
    shutil.copytree(model_dir, versions / "001-itemknn")
    client = make_client(model=versions)
    other = make_client(model=None)  # a second process on the same database
    before = client.get("/v1/users/u1/recommendations").json()["model_version"]
    assert before.startswith("001-itemknn-")
    assert other.get("/v1/users/u1/recommendations").json()["model_version"] == before

    train_bundle(versions / "002-pop", model="pop")
    statuses: list[int] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            statuses.append(client.get("/v1/users/u1/recommendations?k=5").status_code)

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    response = client.post("/v1/admin/reload", json={})
    stop.set()
    for t in threads:
        t.join()
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == "pop"
    assert body["previous_version"] == before
    assert body["model_version"].startswith("002-pop-")
    assert statuses and set(statuses) == {200}
    assert client.get("/v1/users/u1/recommendations").json()["model_version"] == \
        body["model_version"]
    assert other.get("/v1/users/u1/recommendations").json()["model_version"] == \
        body["model_version"]
    listed = client.get("/v1/admin/models").json()
    assert listed["active"] == body["model_version"]
    assert len(listed["versions"]) == 2


def test_reload_of_a_folder_without_a_model_is_a_422_naming_model_dir(client, tmp_path):
    response = client.post("/v1/admin/reload", json={"model_dir": str(tmp_path)})
    assert response.status_code == 422
    assert "model_dir" in response.text and "model.json" in response.text
    assert client.get("/v1/users/u1/recommendations").status_code == 200


def test_a_model_that_reads_text_learns_the_catalogues_new_items_before_serving(
        make_client, tmp_path):
    from service_helpers import synthetic_events, synthetic_items

    from driftrec.data.dataset import Dataset
    from driftrec.models.bundle import save_bundle
    from driftrec.models.content import ContentRecommender
    from driftrec.recommend.encoding import HashingEncoder
    from driftrec.text import item_texts

    items = synthetic_items()
    ds = Dataset.from_frames(synthetic_events(items), items)
    vectors = HashingEncoder().encode(item_texts(ds.items))
    model = ContentRecommender(encoder="hashing", n_neighbours=5).fit(ds, item_vectors=vectors)
    bundle = save_bundle(model, ds, tmp_path / "content")

    writer = make_client(model=None)  # the item exists before the model is loaded
    writer.put("/v1/items/space-new", json={"title": "Star Galaxy Orbit (Sci-Fi story)"})
    client = make_client(model=bundle)
    loaded = client.app.state.core.models.current
    assert loaded.name == "content" and "space-new" in loaded.item_pos
    client.post("/v1/events", json={"events": [
        {"user_id": "sam", "item_id": f"space-{i}"} for i in range(3)]})
    items_out = client.get("/v1/users/sam/recommendations?k=10").json()["items"]
    new = [i for i in items_out if i["item_id"] == "space-new"]
    assert new and new[0]["source"] == "content"
    # scored by the model itself, not by the service's fallback for items a model lacks
    assert client.app.state.core.engine.universe().model_col[
        client.app.state.core.engine.universe().pos["space-new"]] >= 0
    assert new[0]["reasons"][0].startswith("similar to your interest in ")
