"""Small helpers the service tests share."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from driftrec.config import Settings, load_settings
from driftrec.data.dataset import Dataset
from driftrec.models.bundle import save_bundle
from driftrec.models.registry import create_model
from driftrec.store import tables

ADMIN_KEY = "admin-key-for-tests"
READ_KEY = "read-key-for-tests"
SECRET = "test-secret"

TOPICS = {
    "space": ("Sci-Fi", ["Star", "Galaxy", "Orbit", "Nebula", "Rocket", "Comet", "Moon",
                         "Planet"]),
    "crime": ("Crime", ["Heist", "Detective", "Mob", "Alibi", "Ransom", "Witness", "Vault",
                        "Getaway"]),
    "romance": ("Romance", ["Kiss", "Wedding", "Sunset", "Letters", "Paris", "Promise",
                            "Waltz", "Rose"]),
    "comedy": ("Comedy", ["Prank", "Pratfall", "Roommates", "Road Trip", "Mixup", "Sitcom",
                          "Jester", "Giggle"]),
}


def synthetic_items() -> pd.DataFrame:
    rows = []
    for topic, (genre, words) in TOPICS.items():
        for j, word in enumerate(words):
            rows.append({"item_id": f"{topic}-{j}", "title": f"{word} ({genre} story)",
                         "genres": genre})
    return pd.DataFrame(rows)


def synthetic_events(items: pd.DataFrame, n_users: int = 24, seed: int = 0) -> pd.DataFrame:
    """Each user mostly watches one topic, in time order."""
    rng = np.random.default_rng(seed)
    topics = list(TOPICS)
    rows = []
    for u in range(n_users):
        topic = topics[u % len(topics)]
        own = [f"{topic}-{j}" for j in range(8)]
        other = items["item_id"].tolist()
        picks = list(rng.choice(own, size=6, replace=False)) + list(rng.choice(other, size=2))
        for t, item in enumerate(picks):
            rows.append({"user_id": f"train-{u}", "item_id": item, "timestamp": 1000 + t,
                         "value": 4.0})
    return pd.DataFrame(rows)


def train_bundle(directory: Path, model: str = "itemknn", **config) -> Path:
    items = synthetic_items()
    ds = Dataset.from_frames(synthetic_events(items), items, name="synthetic")
    return save_bundle(create_model(model, **config).fit(ds), ds, directory)


def post_events(client: TestClient, *events: dict) -> dict:
    response = client.post("/v1/events", json={"events": list(events)})
    assert response.status_code == 200, response.text
    return response.json()


def count_rows(client: TestClient, table) -> int:
    store = client.app.state.core.store
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def count_events(client: TestClient) -> int:
    return count_rows(client, tables.events)


def make_settings_for(database_url: str, model_dir: Path | None, **overrides) -> Settings:
    values = {"database_url": database_url, "model_dir": model_dir, "encoder": "hashing",
              "id_secret": SECRET, "api_keys_admin": [ADMIN_KEY], "api_keys_read": [READ_KEY],
              **overrides}
    return load_settings(**values)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``driftrec serve`` in a real uvicorn subprocess on a loopback port."""

    def __init__(self, database_url: str, model_dir: Path | None, log_path: Path,
                 port: int | None = None) -> None:
        self.database_url = database_url
        self.model_dir = model_dir
        self.log_path = log_path
        self.port = port or free_port()
        self.proc = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> ServerProcess:
        import os
        import subprocess
        import sys
        import time

        import httpx

        args = [sys.executable, "-m", "driftrec.cli.serve", "--db", self.database_url,
                "--port", str(self.port), "--encoder", "hashing", "--log-level", "warning"]
        if self.model_dir is not None:
            args += ["--model-dir", str(self.model_dir)]
        env = {**os.environ, "DRIFTREC_ID_SECRET": SECRET, "DRIFTREC_API_KEYS_ADMIN": "",
               "DRIFTREC_API_KEYS_READ": "", "HF_HUB_OFFLINE": "1"}
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server not ready in {timeout}s:\n{self.log_path.read_text()}")

    def kill(self) -> None:
        import signal

        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except Exception:
                self.kill()
        if getattr(self, "_log", None):
            self._log.close()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
