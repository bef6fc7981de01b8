"""``driftrec serve`` in a child process on a loopback port: public API.

Run the service from Python, e.g. in a notebook, an integration test or a load test that
needs a real uvicorn server (a second process, a SIGKILL mid-request, HTTP timings):
:class:`ServeProcess` starts it, waits until ``/health/ready`` answers and stops it;
:func:`free_port` finds a loopback port. The project's own tests and benchmark scripts
use it this way::

    from driftrec.service.process import ServeProcess

    with ServeProcess("sqlite:///driftrec.db", Path("models/001"), Path("serve.log")) as server:
        print(httpx.get(f"{server.url}/health/ready").json())
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(proc: subprocess.Popen, url: str, timeout_s: float, interval: float = 0.2
               ) -> str | None:
    """Poll ``url/health/ready`` until it answers 200: None then, else why not (the
    process exited, or the time ran out)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"exited with {proc.returncode}"
        try:
            if httpx.get(f"{url}/health/ready", timeout=1.0).status_code == 200:
                return None
        except httpx.HTTPError:
            pass
        time.sleep(interval)
    return f"not ready in {timeout_s:.0f} s"


class ServeProcess:
    """One ``driftrec serve`` child process; a context manager that starts and stops it.

    ``env`` adds to (or overrides) the parent's environment, e.g. ``DRIFTREC_ID_SECRET``;
    the server's output goes to ``log_path``, which errors quote.
    """

    def __init__(self, database_url: str, model_dir: Path | None, log_path: Path, *,
                 port: int | None = None, encoder: str = "hashing",
                 env: dict[str, str] | None = None, ready_timeout: float = 60.0,
                 workers: int = 1) -> None:
        self.database_url = database_url
        self.model_dir = model_dir
        self.log_path = Path(log_path)
        self.port = port or free_port()
        self.encoder = encoder
        self.env = {"HF_HUB_OFFLINE": "1", **(env or {})}
        self.ready_timeout = ready_timeout
        self.workers = workers
        self.proc: subprocess.Popen | None = None
        self._log = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServeProcess:
        """Start the server and return once it reports ready; raise with its log if not."""
        args = [sys.executable, "-m", "driftrec.cli.serve", "--db", self.database_url,
                "--port", str(self.port), "--encoder", self.encoder, "--log-level", "warning"]
        if self.model_dir is not None:
            args += ["--model-dir", str(self.model_dir)]
        if self.workers > 1:
            args += ["--workers", str(self.workers)]
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **self.env})
        problem = wait_ready(self.proc, self.url, self.ready_timeout, interval=0.1)
        if problem is None:
            return self
        self.stop()
        raise RuntimeError(f"server {problem}:\n{self._log_tail()}")

    def pids(self) -> list[int]:
        """The server's process ids (the parent and any worker processes)."""
        import psutil

        if self.proc is None or self.proc.poll() is not None:
            return []
        parent = psutil.Process(self.proc.pid)
        return [parent.pid, *(c.pid for c in parent.children(recursive=True))]

    def kill(self) -> None:
        """SIGKILL: the server gets no chance to flush or clean up."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM (a graceful shutdown), then SIGKILL after 10 s."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._log is not None:
            self._log.close()
            self._log = None

    def _log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
