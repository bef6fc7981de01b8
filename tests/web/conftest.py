"""Dashboard fixtures: the service tests' synthetic catalogue and item-kNN model, apps on
SQLite and PostgreSQL (``postgres_url`` from the root ``conftest.py``), clients that log in
like a browser does."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def api(make_client: Callable[..., TestClient]) -> TestClient:
    """An API client with the admin key."""
    return make_client()


@pytest.fixture
def browser_like(api: TestClient) -> Callable[[str], TestClient]:
    """A client of the same app with no key header that logs in through the form, as a
    browser does (the key then travels in the cookie only)."""

    def login(key: str) -> TestClient:
        client = TestClient(api.app)
        response = client.post("/dashboard/login", data={"api_key": key},
                               follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/dashboard"
        return client

    return login


@pytest.fixture(scope="session")
def fused_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny fused model (sequence + content + priors) on the synthetic catalogue, with the
    hashing encoder, as a bundle: the overview shows its fusion weights."""
    from service_helpers import synthetic_events, synthetic_items

    from driftrec.data.dataset import Dataset
    from driftrec.models.bundle import save_bundle
    from driftrec.models.registry import create_model
    from driftrec.recommend.encoding import HashingEncoder
    from driftrec.text import item_texts

    items = synthetic_items()
    ds = Dataset.from_frames(synthetic_events(items, n_users=48), items, name="synthetic")
    sequence = {"hidden": 16, "n_layers": 1, "n_heads": 1, "max_len": 12, "batch_size": 16,
                "lr": 1e-2, "warmup_steps": 1, "threads": 1, "valid_users": 0,
                "max_epochs": 4}
    model = create_model("fused", encoder="hashing", sequence=sequence, holdout_users=48,
                         hard_negatives=5, random_negatives=5)
    model.fit(ds, item_embeddings=HashingEncoder().encode(item_texts(ds.items)))
    return save_bundle(model, ds, tmp_path_factory.mktemp("fused") / "fused")
