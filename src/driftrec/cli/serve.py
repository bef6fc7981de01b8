"""``driftrec serve``: run the REST service with uvicorn."""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import socket
import sys
from pathlib import Path

import typer

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind_host(host: str, auth_enabled: bool) -> str:
    """The interface to bind: without API keys, only loopback (and say so)."""
    if not auth_enabled and not _is_loopback(host):
        log.warning("no API keys configured: binding to %s instead of %s; set "
                    "DRIFTREC_API_KEYS_READ and DRIFTREC_API_KEYS_ADMIN to serve other hosts",
                    LOOPBACK, host)
        return LOOPBACK
    return host


def serve(
    model_dir: Path | None = typer.Option(None, help="Trained model directory (or a folder of "
                                          "versions, the newest is served)."),
    db: str | None = typer.Option(None, help="Database URL (default: DRIFTREC_DATABASE_URL "
                                  "or sqlite:///./driftrec.db)."),
    host: str | None = typer.Option(None, help="Interface to bind (default 127.0.0.1)."),
    port: int | None = typer.Option(None, help="TCP port (default 8000)."),
    config: Path | None = typer.Option(None, help="TOML settings file (DRIFTREC_* names)."),
    encoder: str | None = typer.Option(None, help="Text encoder: minilm, use, hashing or a "
                                       "sentence-transformers folder."),
    log_level: str = typer.Option("info", help="debug, info, warning or error."),
    import_events: str | None = typer.Option(None, help="Import this events file (or "
                                             "dataset name) before serving; see "
                                             "`driftrec import`."),
    skip_existing_users: bool = typer.Option(False, help="With --import-events: leave out "
                                             "users who already have a stored state."),
    workers: int = typer.Option(1, min=1, help="Server processes sharing the port (see "
                                "docs/service.md, 'Processes')."),
) -> None:
    """Serve recommendations over HTTP (API under /v1, docs at /docs)."""
    import uvicorn

    from driftrec.config import load_settings
    from driftrec.service import create_app
    from driftrec.service.app import limit_compute_threads, settle_heap

    settings = load_settings(config, database_url=db, model_dir=model_dir, host=host,
                             port=port, encoder=encoder)
    bind = bind_host(settings.host, settings.auth_enabled)
    limit_compute_threads(settings.compute_threads)
    if workers > 1:
        _serve_workers(settings, bind, workers, log_level, import_events, skip_existing_users)
        return
    app = create_app(settings)
    if import_events is not None:
        from driftrec.cli.imports import run_import

        run_import(app.state.core, import_events, batch_rows=20_000,
                   skip_existing_users=skip_existing_users)
    log.info("serving on http://%s:%d (model %s)", bind, settings.port,
             app.state.core.model_version)
    settle_heap()
    # The access log prints request paths, which carry raw user ids: the service logs
    # route templates itself instead.
    uvicorn.run(app, host=bind, port=settings.port, log_level=log_level.lower(),
                access_log=False)


def _serve_workers(settings, bind: str, workers: int, log_level: str,
                   import_events: str | None, skip_existing_users: bool) -> None:
    """Several uvicorn processes on one port; each builds its app from the environment.

    The settings given on the command line are handed to the workers as ``DRIFTREC_*``
    variables. Any import runs once, here, before the workers start.
    """
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from driftrec.service.core import ServiceCore

    os.environ["DRIFTREC_DATABASE_URL"] = settings.database_url
    os.environ["DRIFTREC_ENCODER"] = settings.encoder
    # A process per core: a scoring thread in each would only compete with the other
    # processes' event loops (docs/service.md, Performance). An explicit setting wins.
    os.environ.setdefault("DRIFTREC_SCORING_THREAD",
                          str(workers < (os.cpu_count() or 1)).lower())
    if settings.model_dir is not None:
        os.environ["DRIFTREC_MODEL_DIR"] = str(settings.model_dir)
    if import_events is not None:
        from driftrec.cli.imports import run_import

        core = ServiceCore(settings)
        try:
            run_import(core, import_events, batch_rows=20_000,
                       skip_existing_users=skip_existing_users)
        finally:
            core.close()
    log.info("serving on http://%s:%d with %d processes", bind, settings.port, workers)
    config = uvicorn.Config("driftrec.service.app:app_from_environment", factory=True,
                            host=bind, port=settings.port, workers=workers,
                            log_level=log_level.lower(), access_log=False)
    Multiprocess(config, sockets=worker_listeners(config)).run()


def worker_listeners(config) -> list[socket.socket]:
    """What uvicorn's process supervisor hands each worker to listen on: on Linux a
    listener of the worker's own (:class:`OwnListener`), elsewhere one shared socket."""
    if sys.platform != "linux":
        return [tcp_listener(config)]  # other kernels do not spread connections by hash
    if not config.port:
        raise typer.BadParameter("several workers need a fixed --port", param_hint="--port")
    _check_free(config.host, config.port)
    return OwnListener(config.host, config.port, config.backlog)


def _check_free(host: str, port: int) -> None:
    """Fail before any worker starts if something listens on ``host:port``. Binding alone
    would not tell: another server of the same user that listens with ``SO_REUSEPORT``
    (a second ``driftrec serve``) would silently share the port and its connections."""
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        if probe.connect_ex(address) == 0:
            raise OSError(errno.EADDRINUSE, f"{host}:{port} is in use by another server")
    bind_reuse_port(host, port, 1)[0].close()  # and bindable: no other kind of listener


class OwnListener(list):
    """Stands in for the socket uvicorn's supervisor hands every worker it starts.

    With one shared socket, the worker that wakes first accepts every connection waiting,
    so a few keep-alive connections opened together (a load generator, a proxy's pool)
    often all land on one worker while the other idles (docs/service.md, connections
    across processes). uvicorn starts each worker, and each restarted one, by spawning an
    interpreter and pickling what it hands it. In the worker this list becomes a listener
    of the worker's own, bound with ``SO_REUSEPORT`` to the same address when the server
    first asks for it, after the app has started: a worker takes connections only once it
    can answer them, and the kernel spreads new connections over the workers listening by
    a hash of their addresses.
    """

    def __init__(self, host: str, port: int, backlog: int) -> None:
        super().__init__()
        self.address = (host, port, backlog)
        self.in_worker = False

    def __reduce__(self):
        return OwnListener, self.address, {"in_worker": True}

    def __iter__(self):
        if not self.in_worker:
            raise RuntimeError("each worker binds its own listener after unpickling this; "
                               "this one was not handed to a worker by pickling")
        if not len(self):
            self.extend(bind_reuse_port(*self.address))
        return super().__iter__()


def bind_reuse_port(host: str, port: int, backlog: int) -> list[socket.socket]:
    """A TCP listener on ``host:port`` that other processes may bind as well
    (``SO_REUSEPORT``), marked as TCP so that its connections get ``TCP_NODELAY``."""
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                  flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return [sock]


def tcp_listener(config) -> socket.socket:
    """The workers' shared listening socket where the kernel cannot spread connections
    (not Linux), marked as TCP so that every accepted connection gets ``TCP_NODELAY``.

    uvicorn's own ``bind_socket`` leaves the socket's protocol at 0, and asyncio sets
    ``TCP_NODELAY`` only on sockets that say ``IPPROTO_TCP``: with several workers every
    keep-alive response then waited about 40 ms for the client's delayed ACK (Nagle).
    """
    sock = config.bind_socket()
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return sock  # a Unix socket: no Nagle to turn off
    return socket.socket(sock.family, socket.SOCK_STREAM, socket.IPPROTO_TCP,
                         fileno=sock.detach())


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    typer.run(serve)
