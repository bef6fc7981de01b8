"""Two service processes on one PostgreSQL behave as one service."""

from __future__ import annotations

import shutil

import httpx
import pytest
from service_helpers import server_process, train_bundle

pytestmark = pytest.mark.slow


def test_write_through_one_process_read_through_the_other(postgres_url, model_dir, tmp_path):
    versions = tmp_path / "versions"
    shutil.copytree(model_dir, versions / "001")
    with server_process(postgres_url, versions, tmp_path / "a.log") as a, \
            server_process(postgres_url, versions, tmp_path / "b.log") as b:
        ha, hb = httpx.Client(base_url=a.url, timeout=30), httpx.Client(base_url=b.url,
                                                                        timeout=30)
        cold = hb.get("/v1/users/pat/recommendations?k=5").json()
        assert {i["source"] for i in cold["items"]} == {"popularity"}

        # an event through A changes recommendations and profile through B at once
        first = ha.post("/v1/events", json={"events": [
            {"user_id": "pat", "item_id": "crime-0", "event_type": "purchase"}]})
        assert first.status_code == 200
        warm = hb.get("/v1/users/pat/recommendations?k=5").json()
        assert warm["items"][0]["source"] == "itemknn"
        assert "crime-0" not in [i["item_id"] for i in warm["items"]]
        assert hb.get("/v1/users/pat/profile").json()["history_length"] == 1

        # B now holds pat in memory; A's next event must still show through B at once
        top = warm["items"][0]["item_id"]
        again = hb.get("/v1/users/pat/recommendations?k=5").json()  # from memory
        assert again["items"] == warm["items"]
        second = ha.post("/v1/events", json={"events": [
            {"user_id": "pat", "item_id": top, "event_type": "purchase"}]})
        assert second.status_code == 200
        fresh = hb.get("/v1/users/pat/recommendations?k=5").json()
        assert top not in [i["item_id"] for i in fresh["items"]]
        assert hb.get("/v1/users/pat/profile").json()["history_length"] == 2

        # an item written through B is recommendable and hideable through A
        assert hb.put("/v1/items/crime-new", json={
            "title": "Heist Detective Mob", "attributes": {"genres": "Crime"}}).status_code == 200
        similar = ha.get("/v1/items/crime-0/similar?k=40").json()
        assert "crime-new" in [i["item_id"] for i in similar["items"]]
        assert ha.delete("/v1/items/crime-new").status_code in (200, 204)
        similar = hb.get("/v1/items/crime-0/similar?k=40").json()
        assert "crime-new" not in [i["item_id"] for i in similar["items"]]

        # a model reload through A switches B too
        old = warm["model_version"]
        train_bundle(versions / "002", model="pop")
        reloaded = ha.post("/v1/admin/reload", json={})
        assert reloaded.status_code == 200
        new = reloaded.json()["model_version"]
        assert new != old and new.startswith("002-")
        after = hb.get("/v1/users/pat/recommendations").json()
        assert after["model_version"] == new
        assert {i["source"] for i in after["items"]} == {"popularity"}

        # erasure through B is seen by A, including a context A held in memory
        assert ha.get("/v1/users/pat/export").json()["events"] != []
        assert hb.delete("/v1/users/pat").status_code == 200
        assert ha.get("/v1/users/pat/export").json()["events"] == []
        assert ha.get("/v1/users/pat/profile").json()["history_length"] == 0
