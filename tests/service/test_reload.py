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
