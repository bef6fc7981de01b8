"""Several server processes share one listening socket; its connections must not wait on
Nagle's algorithm (about 40 ms per keep-alive response on Linux)."""

from __future__ import annotations

import asyncio
import socket

import uvicorn

from driftrec.cli.serve import tcp_listener


def test_the_shared_listener_gives_connections_tcp_nodelay():
    config = uvicorn.Config("driftrec.service.app:app_from_environment", factory=True,
                            host="127.0.0.1", port=0)
    sock = tcp_listener(config)
    assert sock.proto == socket.IPPROTO_TCP

    async def accepted_nodelay() -> int:
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

    assert asyncio.run(accepted_nodelay()) != 0
