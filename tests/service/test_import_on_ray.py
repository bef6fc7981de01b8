"""Interest states built on Ray during an import are the ones the one-process import
builds, user for user, including users who had a state before and re-sent events."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from service_helpers import (
    ADMIN_KEY,
    make_settings_for,
    post_events,
    synthetic_events,
    synthetic_items,
)

from driftrec.service import create_app
from driftrec.service.importer import import_events
from driftrec.store.codec import plain

pytest.importorskip("ray")  # local_ray (tests/conftest.py) needs it
pytestmark = pytest.mark.slow  # starting Ray and its actors takes 10-30 s


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    """40 users, 8 events each, every event with an id."""
    frame = synthetic_events(synthetic_items(), n_users=40, seed=3).assign(
        event_type="rating")
    frame["event_id"] = [f"e{i}" for i in range(len(frame))]
    path = tmp_path / "events.csv"
    frame.to_csv(path, index=False)
    return path


def user_rows(client: TestClient, users: list[str]) -> list[tuple]:
    store = client.app.state.core.store
    out = []
    for user in users:
        key = store.user_key(user)
        state, n_events = store.get_state(key)
        events = [(e.item_id, e.event_type, e.value, e.timestamp)
                  for e in store.user_events(key)]
        out.append((user, plain(state), n_events, events))
    return out


def test_states_built_on_ray_equal_the_one_process_import(local_ray, make_client, model_dir,
                                                          events_file, tmp_path):
    frame = pd.read_csv(events_file)
    users = sorted(frame["user_id"].unique())
    # posted live before the import: train-0's first event (the file re-sends it), and an
    # event of train-1's that the file does not have
    first = frame.iloc[0].to_dict()
    live = [{k: first[k] for k in ("user_id", "item_id", "event_type", "value", "timestamp",
                                   "event_id")},
            {"user_id": "train-1", "item_id": "space-7", "event_type": "click",
             "timestamp": 900}]

    reference = TestClient(create_app(make_settings_for(
        f"sqlite:///{tmp_path / 'local.db'}", model_dir)), headers={"X-API-Key": ADMIN_KEY})
    with reference:
        for event in live:
            post_events(reference, event)
        local = import_events(reference.app.state.core, events_file, batch_rows=50)
        expected = user_rows(reference, users)

    client = make_client()
    for event in live:
        post_events(client, event)
    summary = import_events(client.app.state.core, events_file, batch_rows=50,
                            ray="auto", ray_workers=2)

    assert user_rows(client, users) == expected
    assert (summary.events, summary.duplicates, summary.users) == (
        local.events, local.duplicates, local.users) == (319, 1, 40)
    # train-0 and train-1 had stored states: built here from them; everyone else on Ray
    assert summary.ray_users == 38
