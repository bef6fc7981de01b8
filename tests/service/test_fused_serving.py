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


def test_users_the_model_cannot_tell_apart_share_one_model_run(make_client, fused_dir,
                                                               monkeypatch):
    """Every user with no events (and not a training user of the model) gets the same
    scores: the model runs once for all of them, not once per request."""
    from driftrec.models.fusion import FusedRecommender

    client = make_client(model=fused_dir)
    runs = []
    real = FusedRecommender.features
    monkeypatch.setattr(FusedRecommender, "features",
                        lambda model, history, **kw: runs.append(history)
                        or real(model, history, **kw))
    lists = [[i["item_id"] for i in client.get(f"/v1/users/{user}/recommendations?k=5")
              .json()["items"]] for user in ("new-1", "new-2", "new-3")]
    assert lists[0] == lists[1] == lists[2] and len(lists[0]) == 5
    assert len(runs) == 1
    post_events(client, {"user_id": "new-2", "item_id": "crime-1", "timestamp": 5})
    moved = [i["item_id"] for i in client.get("/v1/users/new-2/recommendations?k=5")
             .json()["items"]]
    assert len(runs) == 2 and "crime-1" not in moved  # a history of its own: its own run


def test_a_changed_history_is_scored_in_the_worker_thread_only_when_set(make_client,
                                                                        fused_dir):
    """``scoring_thread`` (the default) sends a changed history to the scoring queue; off,
    the handler scores it inline. The list is the same either way."""
    lists = {}
    for scoring_thread in (True, False):
        client = make_client(model=fused_dir, scoring_thread=scoring_thread)
        post_events(client, *[{"user_id": f"fan-{scoring_thread}", "item_id": f"crime-{i}",
                               "timestamp": 10 + i} for i in range(3)])
        path = f"/v1/users/fan-{scoring_thread}/recommendations?k=5"
        lists[scoring_thread] = [i["item_id"] for i in client.get(path).json()["items"]]
        client.get(path)  # the scores are kept with the user's context: not scored again
        assert client.app.state.core.engine.scoring.scored == (1 if scoring_thread else 0)
    assert lists[True] == lists[False] and len(lists[True]) == 5


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
