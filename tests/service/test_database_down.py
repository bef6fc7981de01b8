"""The database goes away after start-up: readiness and every request that needs it answer
503 with ``Retry-After`` (never a 500, never a hang), nothing half-done is left, and the
service recovers by itself when the database is back.

PostgreSQL is reached through a small TCP relay on loopback that the test can cut:
refused (the server is down) or silent (it accepts and never answers: the engine's
connect timeout bounds the wait).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from service_helpers import ADMIN_KEY, make_settings_for
from sqlalchemy.engine import make_url

from driftrec.service import create_app
from driftrec.store import engine as store_engine
from driftrec.store.engine import PG_CONNECT_TIMEOUT_S


class Relay:
    """Forwards loopback connections to the database; ``cut()`` closes them and refuses
    (or, ``silent=True``, accepts and ignores) new ones; ``restore()`` forwards again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.mode = "forward"
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.stopped = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopped:
            listener = self.listener
            try:
                client, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            with self.lock:
                self.sockets.append(client)
                if self.mode != "forward":
                    continue  # silent: a connection that never answers
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
                self.sockets.append(upstream)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def _close_all(self) -> None:
        with self.lock:
            for s in self.sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self.sockets.clear()

    def cut(self, *, silent: bool = False) -> None:
        with self.lock:
            self.mode = "silent" if silent else "refuse"
            if not silent:
                self.listener.close()  # connection refused from now on
        self._close_all()

    def restore(self) -> None:
        with self.lock:
            if self.mode == "refuse":
                self.listener = socket.create_server(("127.0.0.1", self.port))
                self.listener.settimeout(0.1)
            self.mode = "forward"
        self._close_all()

    def stop(self) -> None:
        self.stopped = True
        self.thread.join(timeout=2)
        self.listener.close()
        self._close_all()


@pytest.fixture
def relay(postgres_url: str) -> Iterator[tuple[Relay, str]]:
    url = make_url(postgres_url)
    relay = Relay((url.host or "127.0.0.1", url.port or 5432))
    yield relay, url.set(host="127.0.0.1", port=relay.port).render_as_string(
        hide_password=False)
    relay.stop()


@pytest.fixture
def service(relay, model_dir) -> Iterator[tuple[TestClient, Relay]]:
    relay_, url = relay
    app = create_app(make_settings_for(url, model_dir))
    with TestClient(app, headers={"X-API-Key": ADMIN_KEY},
                    raise_server_exceptions=False) as client:
        yield client, relay_


EVENT = {"events": [{"user_id": "u1", "item_id": "space-0", "event_id": "e1"}]}


def assert_unavailable(response) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) >= 1


def test_a_database_that_goes_away_is_503_with_retry_after_then_recovers(service):
    client, relay = service
    assert client.get("/health/ready").status_code == 200
    assert client.get("/v1/users/u1/recommendations").status_code == 200

    relay.cut()
    started = time.monotonic()
    ready = client.get("/health/ready")
    assert_unavailable(ready)
    assert ready.json()["checks"]["database"] == "unreachable"
    assert client.get("/health/live").status_code == 200  # the process itself is fine
    for method, path, body in [("GET", "/v1/users/u1/recommendations", None),
                               ("GET", "/v1/items/space-0", None),
                               ("POST", "/v1/events", EVENT),
                               ("PUT", "/v1/items/new", {"title": "New"})]:
        response = client.request(method, path, json=body)
        assert_unavailable(response)
        assert "database" in response.json()["detail"]
    assert time.monotonic() - started < 10  # refused connections fail at once

    relay.restore()
    assert client.get("/health/ready").status_code == 200
    # the client retries the write that got a 503: it is stored once
    assert client.post("/v1/events", json=EVENT).json() == {"accepted": 1, "duplicates": 0}
    assert client.post("/v1/events", json=EVENT).json() == {"accepted": 0, "duplicates": 1}
    assert client.get("/v1/items/new").status_code == 404  # the failed PUT left nothing


@pytest.mark.timeout(60)  # without a connect timeout this waits forever
def test_a_database_that_stops_answering_is_503_within_the_connect_timeout(service):
    client, relay = service
    assert client.get("/health/ready").status_code == 200
    relay.cut(silent=True)
    started = time.monotonic()
    assert_unavailable(client.get("/health/ready"))
    assert time.monotonic() - started < PG_CONNECT_TIMEOUT_S + 5
    relay.restore()
    assert client.get("/health/ready").status_code == 200


def test_a_restart_while_connections_idle_in_the_pool_fails_no_request(relay, model_dir,
                                                                        monkeypatch):
    """Pooled connections that died while idle are found by the ping on their next
    checkout and replaced: the first requests after the restart succeed."""
    monkeypatch.setattr(store_engine, "PG_PING_AFTER_IDLE_S", 0.2)
    relay_, url = relay
    app = create_app(make_settings_for(url, model_dir))
    with TestClient(app, headers={"X-API-Key": ADMIN_KEY},
                    raise_server_exceptions=False) as client:
        assert client.post("/v1/events", json=EVENT).status_code == 200
        assert client.get("/v1/users/u1/recommendations").status_code == 200
        core = client.app.state.core
        core.segments.join()  # background work done: the next request is the first user
        core.writer.flush()   # of the pooled connections
        relay_.cut()  # every pooled connection is closed by the "server"
        time.sleep(0.3)  # the relay's listener lets go of the port; the pool idles
        relay_.restore()
        assert client.get("/v1/users/u1/recommendations").status_code == 200
        second = {"events": [{"user_id": "u1", "item_id": "space-1", "event_id": "e2"}]}
        assert client.post("/v1/events", json=second).json() == {"accepted": 1,
                                                                 "duplicates": 0}
