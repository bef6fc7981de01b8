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

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from service_helpers import ADMIN_KEY, make_settings_for, synthetic_items, train_bundle

from driftrec.service import create_app

PG_URL = os.environ.get("DRIFTREC_TEST_POSTGRES_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def items_frame() -> pd.DataFrame:
    return synthetic_items()


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


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()
