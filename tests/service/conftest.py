"""Service fixtures: a synthetic catalogue, a tiny item-kNN model trained on it, and the
same tests run against SQLite and against the PostgreSQL on 127.0.0.1.

PostgreSQL tests fail (not skip) when the server is unreachable and ``CI`` or
``DRIFTREC_REQUIRE_POSTGRES=1`` is set; elsewhere they skip. Each test gets a fresh schema.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from driftrec.config import Settings, load_settings
from driftrec.data.dataset import Dataset
from driftrec.models.bundle import save_bundle
from driftrec.models.registry import create_model
from driftrec.service import create_app

PG_URL = os.environ.get("DRIFTREC_TEST_POSTGRES_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")
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


@pytest.fixture(scope="session")
def items_frame() -> pd.DataFrame:
    return synthetic_items()


def train_bundle(directory: Path, model: str = "itemknn", **config) -> Path:
    items = synthetic_items()
    ds = Dataset.from_frames(synthetic_events(items), items, name="synthetic")
    return save_bundle(create_model(model, **config).fit(ds), ds, directory)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_bundle(tmp_path_factory.mktemp("model") / "itemknn", neighbours=20)


def _require_postgres() -> bool:
    return bool(os.environ.get("CI")) or os.environ.get("DRIFTREC_REQUIRE_POSTGRES") == "1"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL whose search path is a fresh, empty schema (dropped afterwards)."""
    import psycopg

    plain = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        admin = psycopg.connect(plain, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if _require_postgres():
            pytest.fail(f"PostgreSQL at {PG_URL} is unreachable and required: {exc}")
        pytest.skip(f"PostgreSQL at {PG_URL} is unreachable: {exc}")
    schema = f"driftrec_test_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'driftrec.db'}"
    return request.getfixturevalue("postgres_url")


def make_settings(database_url: str, model_dir: Path | None, **overrides) -> Settings:
    values = {"database_url": database_url, "model_dir": model_dir, "encoder": "hashing",
              "id_secret": SECRET, "api_keys_admin": [ADMIN_KEY], "api_keys_read": [READ_KEY],
              **overrides}
    return load_settings(**values)


@pytest.fixture
def make_client(database_url: str, model_dir: Path) -> Iterator[Callable[..., TestClient]]:
    """Factory for clients of fresh apps on this test's database (admin key by default)."""
    clients: list[TestClient] = []

    def make(*, key: str | None = ADMIN_KEY, model: Path | None = model_dir,
             **overrides) -> TestClient:
        app = create_app(make_settings(database_url, model, **overrides))
        client = TestClient(app, headers={"X-API-Key": key} if key else {})
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()
