"""The sockets server processes listen on: connections must not wait on Nagle's algorithm
(about 40 ms per keep-alive response on Linux), and with several processes each binds its
own listener so that the kernel spreads connections over them."""

from __future__ import annotations

import asyncio
import pickle
import socket
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
import pytest
import uvicorn

from driftrec.cli.serve import OwnListener, tcp_listener, worker_listeners
from driftrec.service.process import ServeProcess, free_port

linux_only = pytest.mark.skipif(sys.platform != "linux",
                                reason="the kernel spreads connections by hash on Linux")


def config(port: int = 0) -> uvicorn.Config:
    return uvicorn.Config("driftrec.service.app:app_from_environment", factory=True,
                          host="127.0.0.1", port=port)


def accepted_nodelay(sock: socket.socket) -> int:
    """TCP_NODELAY of a connection accepted on ``sock`` by an asyncio server."""
    async def probe() -> int:
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport) -> None:
                conn = transport.get_extra_info("socket")
                seen.set_result(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        server = await asyncio.get_running_loop().create_server(Probe, sock=sock)
        _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
        try:
            return await asyncio.wait_for(seen, 10)
        finally:
            writer.close()
            server.close()

    return asyncio.run(probe())


def test_the_shared_listener_gives_connections_tcp_nodelay():
    sock = tcp_listener(config())
    assert sock.proto == socket.IPPROTO_TCP
    assert accepted_nodelay(sock) != 0


@linux_only
def test_each_worker_unpickles_a_listener_of_its_own_on_the_same_port():
    port = free_port()
    handed = worker_listeners(config(port))
    assert isinstance(handed, OwnListener)
    with pytest.raises(RuntimeError, match="each worker binds"):
        list(handed)  # the supervisor's copy is no socket: only a worker's is
    first, second = (next(iter(pickle.loads(pickle.dumps(handed)))) for _ in range(2))
    try:
        assert first.getsockname()[1] == second.getsockname()[1] == port
        assert first.fileno() != second.fileno()
        assert first.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
        second.close()  # else the kernel may hand the probe's connection to it
        assert accepted_nodelay(first) != 0
    finally:
        first.close()
        second.close()


@linux_only
def test_a_port_another_program_holds_fails_before_any_worker_starts():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            worker_listeners(config(taken.getsockname()[1]))


@linux_only
def test_a_second_server_on_the_same_port_fails_instead_of_sharing_it():
    """Another ``driftrec serve`` listens with SO_REUSEPORT too: binding would succeed."""
    port = free_port()
    first = next(iter(pickle.loads(pickle.dumps(worker_listeners(config(port))))))
    try:
        with pytest.raises(OSError, match="in use"):
            worker_listeners(config(port))
    finally:
        first.close()


def holding(server: ServeProcess, status: str) -> set[int]:
    """The server's processes with a socket in ``status`` on its port."""
    return {pid for pid in server.pids()[1:]
            for c in psutil.Process(pid).net_connections(kind="tcp")
            if c.status == status and c.laddr.port == server.port}


@linux_only
def test_keep_alive_connections_reach_both_server_processes():
    """16 connections opened together: with one shared socket the first process to wake
    often took nearly all; with a socket each, both get some (all on one: odds 2 in 65,536)."""
    with tempfile.TemporaryDirectory() as tmp, ServeProcess(
            f"sqlite:///{tmp}/db.sqlite", None, Path(tmp) / "serve.log", workers=2) as server:
        deadline = time.monotonic() + 60  # ready means one worker answers: wait for both
        while len(holding(server, psutil.CONN_LISTEN)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        clients = [httpx.Client(base_url=server.url) for _ in range(16)]
        try:
            for client in clients:
                assert client.get("/health/live").status_code == 200
            assert len(holding(server, psutil.CONN_ESTABLISHED)) == 2
        finally:
            for client in clients:
                client.close()
