"""Crash safety: SIGKILL the server under concurrent writers (group commit); every
acknowledged event survives exactly once, and each request in flight is all or nothing."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from service_helpers import server_process

pytestmark = pytest.mark.slow

WRITERS = 8
PER_BATCH = 3


def batch_of(writer: int, n: int) -> list[dict]:
    return [{"user_id": f"writer-{writer}", "item_id": f"s-{writer}-{n}-{j}",
             "event_id": f"{n}-{j}", "timestamp": 1_700_000_000 + n} for j in range(PER_BATCH)]


def test_every_acknowledged_event_survives_sigkill_under_concurrent_writers(
        database_url, model_dir, tmp_path):
    server = server_process(database_url, model_dir, tmp_path / "server.log").start()
    acked: dict[int, list[dict]] = {w: [] for w in range(WRITERS)}
    in_flight: dict[int, list[dict]] = {}
    refused: list[int] = []
    stop = threading.Event()

    def stream(writer: int) -> None:
        with httpx.Client(base_url=server.url, timeout=10.0) as http:
            n = 0
            while not stop.is_set():
                batch = batch_of(writer, n)
                in_flight[writer] = batch
                try:
                    response = http.post("/v1/events", json={"events": batch})
                except httpx.HTTPError:
                    return  # the server died with this request in flight: answer unknown
                if response.status_code != 200:
                    refused.append(response.status_code)
                    return
                acked[writer].extend(batch)
                del in_flight[writer]
                n += 1

    senders = [threading.Thread(target=stream, args=(w,)) for w in range(WRITERS)]
    for t in senders:
        t.start()
    deadline = time.monotonic() + 30
    while sum(map(len, acked.values())) < 600 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.kill()  # SIGKILL while every writer is still streaming
    stop.set()
    for t in senders:
        t.join(15)
    server.stop()
    assert refused == [], "every answer before the kill must be 200"
    n_acked = sum(map(len, acked.values()))
    assert n_acked >= 600, "the writers did not get going"

    with server_process(database_url, model_dir, tmp_path / "server2.log") as again, \
            httpx.Client(base_url=again.url, timeout=30) as http:
        for writer in range(WRITERS):
            exported = http.get(f"/v1/users/writer-{writer}/export").json()
            stored = [e["item_id"] for e in exported["events"]]
            assert len(stored) == len(set(stored)), "an event was stored twice"
            mine = [e["item_id"] for e in acked[writer]]
            assert set(mine) <= set(stored), "an acknowledged event was lost"
            lost_answer = in_flight.get(writer, [])
            extra = set(stored) - set(mine)
            assert extra in (set(), {e["item_id"] for e in lost_answer}), \
                "a request in flight was stored in part"
            assert exported["n_events"] == len(stored)  # state committed with its events
            if lost_answer:
                # the client retries the request whose answer it never saw: all of it is
                # then stored exactly once, whichever way the crash went
                body = http.post("/v1/events", json={"events": lost_answer}).json()
                assert body["accepted"] + body["duplicates"] == PER_BATCH
                assert body["duplicates"] in (0, PER_BATCH)
                after = [e["item_id"] for e in
                         http.get(f"/v1/users/writer-{writer}/export").json()["events"]]
                assert len(after) == len(set(after)) == len(stored) + body["accepted"]
