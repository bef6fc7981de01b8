"""Shared fixtures: a tiny hand-made dataset, the real MovieLens-100K and a fresh
PostgreSQL schema.

PostgreSQL tests fail (not skip) when the server is unreachable and ``CI`` or
``DRIFTREC_REQUIRE_POSTGRES=1`` is set; elsewhere they skip.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# The service and dashboard tests share helpers and fixtures (apps on SQLite and PostgreSQL,
# a small model): ``tests/service/service_helpers.py``.
sys.path.insert(0, str(Path(__file__).parent / "service"))

from driftrec.data.dataset import Dataset

pytest_plugins = ["service_helpers"]


@pytest.fixture(scope="module")
def local_ray():
    """Ray in this process on 127.0.0.1 with 2 CPUs, for the tests of work on Ray (shut
    down after each module, so no other test runs beside it)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, _node_ip_address="127.0.0.1", include_dashboard=False,
             object_store_memory=100 * 2**20, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture
def tiny_events() -> pd.DataFrame:
    """Three users, five items; u1 has two events with the same timestamp (t=3)."""
    return pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u1", "u1", "u2", "u2", "u2", "u3", "u3", "u3"],
            "item_id": ["a", "b", "c", "d", "a", "c", "e", "b", "c", "d"],
            "timestamp": [1, 2, 3, 3, 5, 6, 7, 1, 2, 3],
            "value": [5, 4, 3, 5, 4, 4, 2, 5, 3, 4],
        }
    )


@pytest.fixture
def tiny(tiny_events: pd.DataFrame) -> Dataset:
    items = pd.DataFrame({"item_id": list("abcdef"), "title": list("ABCDEF")})
    return Dataset.from_frames(tiny_events, items, name="tiny")


@pytest.fixture(scope="session")
def ml100k() -> Dataset:
    from driftrec.data.movielens import load_movielens

    return load_movielens("ml-100k")


PG_URL = os.environ.get("DRIFTREC_TEST_POSTGRES_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")


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
