"""The project's fused model behind the service: its source, and new items it learns."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from service_helpers import post_events
from typer.testing import CliRunner

from driftrec.cli import app
from driftrec.data.schema import USER_ID
from driftrec.models.bundle import CATALOGUE_DIR

pytestmark = pytest.mark.slow

def test_fused_model_serves_and_scores_new_items(make_client, fused_dir):
    writer = make_client(model=None)
    writer.put("/v1/items/crime-new", json={"title": "Heist Detective Mob (Crime story)",
                                            "attributes": {"genres": "Crime"}})
    client = make_client(model=fused_dir)
    loaded = client.app.state.core.models.current
    assert loaded.name == "fused" and "crime-new" in loaded.item_pos
    post_events(client, *[{"user_id": "fan", "item_id": f"crime-{i}", "timestamp": 10 + i}
                          for i in range(4)])
    body = client.get("/v1/users/fan/recommendations?k=10").json()
    assert body["model_version"].startswith("fused-")
    assert {i["source"] for i in body["items"]} == {"fused"}
    assert body["items"][0]["reasons"][0].startswith("because you recently looked at ")
    cold = client.get("/v1/users/newcomer/recommendations?k=5").json()
    assert len(cold["items"]) == 5


def test_the_service_serves_exactly_what_driftrec_recommend_gives(make_client, fused_dir):
    """Parity: the same model and the same history give the same top-k through the REST
    handler (stored events, live context) as through the offline CLI."""
    result = CliRunner().invoke(app, ["recommend", "--model-dir", str(fused_dir),
                                      "--users", "all", "--k", "10"])
    assert result.exit_code == 0, result.output
    offline = {row["user_id"]: row["items"]
               for row in map(json.loads, result.stdout.splitlines())}
    events = pd.read_parquet(fused_dir / CATALOGUE_DIR / "events.parquet")
    client = make_client(model=fused_dir)
    users = sorted(offline)[::4]
    assert len(users) >= 10
    for user in users:
        mine = events[events[USER_ID].astype(str) == user]
        post_events(client, *[{"user_id": user, "item_id": str(r.item_id),
                               "event_type": str(r.event_type), "value": float(r.value),
                               "timestamp": int(r.timestamp)} for r in mine.itertuples()])
        served = client.get(f"/v1/users/{user}/recommendations", params={"k": 10}).json()
        assert [i["item_id"] for i in served["items"]] == offline[user], user
        assert {i["source"] for i in served["items"]} == {"fused"}
