"""Store fixtures: the same tests on SQLite and on the PostgreSQL at 127.0.0.1.

PostgreSQL tests fail (not skip) when the server is unreachable and ``CI`` or
``DRIFTREC_REQUIRE_POSTGRES=1`` is set. Each test gets a fresh schema.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

PG_URL = os.environ.get("DRIFTREC_TEST_POSTGRES_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    import psycopg

    try:
        admin = psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True,
                                connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") or os.environ.get("DRIFTREC_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL at {PG_URL} is unreachable and required: {exc}")
        pytest.skip(f"PostgreSQL at {PG_URL} is unreachable: {exc}")
    schema = f"driftrec_store_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_URL}?options={quote(f'-csearch_path={schema}')}"
    finally:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()
