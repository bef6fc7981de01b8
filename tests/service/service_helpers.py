"""Small helpers the service tests share."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from driftrec.config import Settings, load_settings
from driftrec.data.dataset import Dataset
from driftrec.models.bundle import save_bundle
from driftrec.models.registry import create_model
from driftrec.service import create_app
from driftrec.service.process import ServeProcess
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


def server_process(database_url: str, model_dir: Path | None, log_path: Path) -> ServeProcess:
    """``driftrec serve`` in a child process with the test secret and open access."""
    return ServeProcess(database_url, model_dir, log_path,
                        env={"DRIFTREC_ID_SECRET": SECRET, "DRIFTREC_API_KEYS_ADMIN": "",
                             "DRIFTREC_API_KEYS_READ": ""})


# -- fixtures shared by the service and dashboard tests (re-exported by their conftests) --
@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_bundle(tmp_path_factory.mktemp("model") / "itemknn", neighbours=20)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'driftrec.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def make_client(database_url: str, model_dir: Path) -> Iterator[Callable[..., TestClient]]:
    """Factory for clients of fresh apps on this test's database (admin key by default)."""
    clients: list[TestClient] = []

    def make(*, key: str | None = ADMIN_KEY, model: Path | None = model_dir,
             **overrides) -> TestClient:
        app = create_app(make_settings_for(database_url, model, **overrides))
        client = TestClient(app, headers={"X-API-Key": key} if key else {})
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)
