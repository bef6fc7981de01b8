"""Crash safety: SIGKILL the server mid-stream; every acknowledged event survives."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from service_helpers import server_process

pytestmark = pytest.mark.slow


def test_every_acknowledged_event_survives_sigkill(database_url, model_dir, tmp_path):
    server = server_process(database_url, model_dir, tmp_path / "server.log").start()
    acked: list[str] = []
    stop = threading.Event()

    def stream() -> None:
        with httpx.Client(base_url=server.url, timeout=5.0) as http:
            n = 0
            while not stop.is_set():
                batch = [{"user_id": "streamer", "item_id": f"s-{n}-{j}", "event_id": f"{n}-{j}",
                          "timestamp": 1_700_000_000 + n} for j in range(3)]
                try:
                    response = http.post("/v1/events", json={"events": batch})
                except httpx.HTTPError:
                    return  # the server died with this request in flight
                if response.status_code == 200:
                    acked.extend(e["item_id"] for e in batch)
                n += 1

    sender = threading.Thread(target=stream)
    sender.start()
    deadline = time.monotonic() + 20
    while len(acked) < 150 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.kill()  # SIGKILL while the client is still streaming
    stop.set()
    sender.join(10)
    server.stop()
    assert len(acked) >= 150, "the stream did not get going"

    with server_process(database_url, model_dir, tmp_path / "server2.log") as again:
        exported = httpx.get(f"{again.url}/v1/users/streamer/export", timeout=30).json()
        stored = [e["item_id"] for e in exported["events"]]
        assert set(acked) <= set(stored)
        assert len(stored) == len(set(stored))  # nothing stored twice
        # the interest state was committed with the events
        assert exported["n_events"] == len(stored)
        # a client retrying the batch it never saw answered stores nothing twice
        last = len(acked) // 3 - 1
        retry = [{"user_id": "streamer", "item_id": f"s-{last}-{j}", "event_id": f"{last}-{j}",
                  "timestamp": 1_700_000_000 + last} for j in range(3)]
        body = httpx.post(f"{again.url}/v1/events", json={"events": retry}).json()
        assert body == {"accepted": 0, "duplicates": 3}
