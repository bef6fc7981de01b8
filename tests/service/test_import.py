"""Bulk import (``driftrec import``): the same stored events and interest states as posting
the events one by one, bad input named by file, line and field, idempotent re-imports."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from service_helpers import ADMIN_KEY, SECRET, count_events, make_settings_for, post_events
from typer.testing import CliRunner

from driftrec.cli import app as cli_app
from driftrec.data.errors import DataError
from driftrec.service import create_app
from driftrec.service.importer import import_events
from driftrec.store.codec import plain

# u1's rows are out of time order (line 4 is its earliest event, line 2 its third) and two share a
# timestamp: the import applies each user's events by time, ties in file order.
EVENTS = pd.DataFrame([
    ("u1", "space-0", "rating", 5.0, 1250, "", "e1"),
    ("u1", "space-1", "rating", 4.0, 1200, "", "e2"),
    ("u2", "crime-0", "click", 1.0, 1100, "", "e3"),
    ("u1", "space-2", "view", 1.0, 900, "", "e4"),
    ("u1", "crime-3", "click", 1.0, 1200, "", "e5"),
    ("u2", "crime-1", "search", 1.0, 1150, "heist with a vault", "e6"),
    ("u3", "romance-0", "rating", 2.0, 50_000, "", "e7"),
    ("u2", "not-in-catalogue", "click", 1.0, 1300, "", "e8"),
    ("u1", "comedy-4", "rating", 3.0, 90_000, "", "e9"),
], columns=["user_id", "item_id", "event_type", "value", "timestamp", "text", "event_id"])


def write_csv(path: Path, frame: pd.DataFrame = EVENTS) -> Path:
    frame.to_csv(path, index=False)
    return path


def api_events(frame: pd.DataFrame) -> list[dict]:
    """The file's events as the API takes them, in the order the import applies them."""
    ordered = frame.assign(_pos=range(len(frame))).sort_values(["timestamp", "_pos"],
                                                               kind="stable")
    return [{k: v for k, v in row.items() if k != "_pos" and v != ""}
            for row in ordered.to_dict("records")]


def stored(client: TestClient, user_id: str) -> tuple[dict | None, int, list[tuple]]:
    store = client.app.state.core.store
    key = store.user_key(user_id)
    state, n_events = store.get_state(key)
    events = [(e.item_id, e.event_type, e.value, e.timestamp, e.text)
              for e in store.user_events(key)]
    return plain(state), n_events, events


@pytest.fixture
def posted(tmp_path: Path, model_dir: Path) -> TestClient:
    """A service on its own SQLite file that got every event by ``POST /v1/events``, one
    event per request, in time order."""
    reference = create_app(make_settings_for(f"sqlite:///{tmp_path / 'posted.db'}", model_dir))
    client = TestClient(reference, headers={"X-API-Key": ADMIN_KEY})
    client.__enter__()
    for event in api_events(EVENTS):
        post_events(client, event)
    yield client
    client.__exit__(None, None, None)


@pytest.fixture
def posted_by(tmp_path: Path, model_dir: Path):
    """Factory: a service on a SQLite file of its own that got ``events`` by
    ``POST /v1/events``, one event per request, in the given order."""
    made = []

    def make(events: list[dict]) -> SimpleNamespace:
        path = tmp_path / f"posted-{len(made)}.db"
        client = TestClient(create_app(make_settings_for(f"sqlite:///{path}", model_dir)),
                            headers={"X-API-Key": ADMIN_KEY})
        client.__enter__()
        made.append(client)
        for event in events:
            post_events(client, event)
        return SimpleNamespace(client=client, events=events)

    yield make
    for client in made:
        client.__exit__(None, None, None)


def test_import_gives_what_posting_the_events_one_by_one_gives(make_client, posted, tmp_path):
    client = make_client()
    core = client.app.state.core
    # u1's first event came in live before the import: the import continues from it
    first = api_events(EVENTS)[0]
    assert first["event_id"] == "e4"
    post_events(client, first)

    summary = import_events(core, write_csv(tmp_path / "events.csv"))

    assert (summary.rows, summary.events, summary.duplicates, summary.users) == (9, 8, 1, 3)
    assert summary.no_vector_events == 1  # stored, moves no interest
    for user in ("u1", "u2", "u3"):
        state, n_events, events = stored(client, user)
        assert (state, n_events, events) == stored(posted, user)
        assert n_events == len(events) and state["n_events"] > 0
    assert client.get("/v1/users/u1/recommendations").status_code == 200


def test_an_import_keeps_no_user_states_in_memory(make_client, tmp_path, monkeypatch):
    """The importer's updater writes every user's state and keeps none of them: a file of
    a million users must not hold a million states (a live commit's updater keeps the
    states of its few users for the in-memory contexts)."""
    core = make_client().app.state.core
    made = []
    real = core.state_updater
    monkeypatch.setattr(core, "state_updater",
                        lambda vecs, **kw: made.append(real(vecs, **kw)) or made[-1])
    summary = import_events(core, write_csv(tmp_path / "events.csv"))
    assert summary.users == 3 and len(made) == 1
    assert made[0].states == {}
    assert core.state_updater is not real and real({}).keep  # the live default keeps


def test_reimporting_a_file_with_event_ids_adds_nothing(make_client, tmp_path):
    client = make_client()
    path = tmp_path / "events.jsonl"
    EVENTS.to_json(path, orient="records", lines=True)
    import_events(client.app.state.core, path)
    before = {u: stored(client, u) for u in ("u1", "u2", "u3")}
    again = import_events(client.app.state.core, path)
    assert (again.events, again.duplicates, again.users) == (0, 9, 0)
    assert count_events(client) == 9
    assert {u: stored(client, u) for u in ("u1", "u2", "u3")} == before


@pytest.mark.parametrize(("line", "column", "bad", "field", "says"), [
    (4, "timestamp", "yesterday-ish", "timestamp", "not unix seconds or ISO-8601"),
    (3, "event_type", "Add To Cart", "event_type", "lower-case word"),
    (6, "user_id", "u" * 129, "user_id", "at most 128 characters"),
    (7, "value", "lots", "value", "not a number"),
    (10, "event_id", "e1", "event_id", "used by this user on line 2 for a different event"),
])
def test_bad_input_names_file_line_and_field_and_imports_nothing(
        make_client, tmp_path, line, column, bad, field, says):
    client = make_client()
    frame = EVENTS.astype(str).copy()
    frame.loc[line - 2, column] = bad  # line 1 is the header
    path = write_csv(tmp_path / "events.csv", frame)
    with pytest.raises(DataError) as caught:
        import_events(client.app.state.core, path)
    error = caught.value
    assert (error.path, error.line, error.field) == (str(path), line, field)
    assert f"{path}, line {line}, field '{field}'" in str(error) and says in str(error)
    assert count_events(client) == 0


def test_an_event_id_stored_before_for_another_event_stops_the_import(make_client, tmp_path):
    client = make_client()
    post_events(client, {"user_id": "u2", "item_id": "crime-5", "event_id": "e8",
                         "timestamp": 5})
    with pytest.raises(DataError, match="line 9, field 'event_id'"):
        import_events(client.app.state.core, write_csv(tmp_path / "events.csv"))
    assert count_events(client) == 1


def test_an_interrupted_import_keeps_whole_batches_and_resumes(make_client, posted, tmp_path,
                                                               monkeypatch):
    """Ctrl-C during the second batch: the first batch (u1) stays, nothing of the rest;
    running again with ``skip_existing_users`` imports the rest."""
    client = make_client()
    core = client.app.state.core
    path = write_csv(tmp_path / "events.csv", EVENTS.drop(columns=["event_id"]))
    real, calls = core.state_updater, []

    def interrupted_on_second_user(text_vectors, **options):
        update = real(text_vectors, **options)

        def wrapped(*args):
            calls.append(1)
            if len(calls) == 2:
                raise KeyboardInterrupt  # as Ctrl-C inside the second transaction
            return update(*args)

        return wrapped

    monkeypatch.setattr(core, "state_updater", interrupted_on_second_user)
    summary = import_events(core, path, batch_rows=1)
    assert summary.interrupted and (summary.events, summary.users) == (5, 1)
    assert count_events(client) == 5
    monkeypatch.setattr(core, "state_updater", real)

    rest = import_events(core, path, skip_existing_users=True)
    assert (rest.events, rest.users, rest.skipped_users) == (4, 2, 1)
    for user in ("u1", "u2", "u3"):
        assert stored(client, user) == stored(posted, user)


def test_cli_imports_and_prints_a_summary(tmp_path, model_dir, monkeypatch):
    monkeypatch.setenv("DRIFTREC_ID_SECRET", SECRET)
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    path = write_csv(tmp_path / "events.csv")
    args = ["import", "--events", str(path), "--db", db, "--model-dir", str(model_dir),
            "--encoder", "hashing"]
    result = CliRunner().invoke(cli_app, args)
    assert result.exit_code == 0, result.output
    assert "events stored" in result.output and "9" in result.output

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"user_id": "u9", "item_id": "space-0", "timestamp": 1}) + "\n"
                   + json.dumps({"user_id": "u9", "item_id": "", "timestamp": 2}) + "\n")
    result = CliRunner().invoke(cli_app, ["import", "--events", str(bad), "--db", db,
                                          "--encoder", "hashing"])
    assert result.exit_code == 2
    assert "line 2, field 'item_id'" in result.output
    assert "nothing was imported" in result.output


def test_serve_imports_before_it_serves(tmp_path, model_dir, monkeypatch):
    import uvicorn

    from driftrec.store import Store

    monkeypatch.setenv("DRIFTREC_ID_SECRET", SECRET)
    db = f"sqlite:///{tmp_path / 'serve.db'}"
    served = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.append(
        app.state.core.store.count_events()))
    result = CliRunner().invoke(cli_app, [
        "serve", "--import-events", str(write_csv(tmp_path / "events.csv")), "--db", db,
        "--model-dir", str(model_dir), "--encoder", "hashing"])
    assert result.exit_code == 0, result.output
    assert served == [9]  # every event was in the store when serving began
    store = Store(db, SECRET)
    assert store.get_state(store.user_key("u3"))[1] == 1
    store.close()


# Ratings without a value: a blank cell in a file and an API event without "value" both
# mean "no value", which counts with the event type's weight (1 for a rating), not as a
# one-star rating (0.1) nor as zero.
NO_VALUES = [("u1", "space-0", "rating", 5.0, 1000), ("u1", "space-1", "rating", None, 1100),
             ("u1", "crime-0", "click", None, 1200), ("u1", "space-2", "rating", None, 1300)]


@pytest.mark.parametrize("layout", ["blank cells", "no value column"])
def test_missing_values_mean_the_same_in_a_file_and_through_the_api(
        make_client, posted_by, tmp_path, layout):
    api = posted_by([{k: v for k, v in zip(("user_id", "item_id", "event_type", "value",
                                            "timestamp"), row, strict=True) if v is not None}
                     for row in NO_VALUES])
    frame = pd.DataFrame(NO_VALUES, columns=["user_id", "item_id", "event_type", "value",
                                             "timestamp"])
    if layout == "no value column":
        frame = frame.drop(columns=["value"])
        api = posted_by([{k: v for k, v in e.items() if k != "value"}
                         for e in api.events])
    path = tmp_path / "events.csv"
    frame.to_csv(path, index=False)  # None is written as an empty cell
    assert ",," in path.read_text() or layout == "no value column"
    client = make_client()
    import_events(client.app.state.core, path)

    state, n_events, events = stored(client, "u1")
    assert (state, n_events, events) == stored(api.client, "u1")
    expected = [5.0, None, None, None] if layout == "blank cells" else [None] * 4
    assert [e[2] for e in events] == expected
    # the valueless rating counts with the rating weight (1.0), not as one star (0.1)
    weights = {row[0]: row[4] for row in state["recent"]}
    assert weights["space-1"] == weights["space-2"] == pytest.approx(1.0)
