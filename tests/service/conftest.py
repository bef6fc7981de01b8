"""Service fixtures: a synthetic catalogue, a tiny item-kNN model trained on it, and the
same tests run against SQLite and against the PostgreSQL on 127.0.0.1 (``postgres_url``,
a fresh schema per test, from the root ``conftest.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from service_helpers import make_settings_for, synthetic_events, synthetic_items

from driftrec.data.dataset import Dataset
from driftrec.models.bundle import save_bundle
from driftrec.models.registry import create_model
from driftrec.recommend.encoding import HashingEncoder
from driftrec.service.core import ServiceCore
from driftrec.text import item_texts

SMALL_SEQUENCE = dict(hidden=16, n_layers=1, n_heads=1, max_len=12, batch_size=16, lr=1e-2,
                      warmup_steps=1, threads=1, valid_users=0, max_epochs=4)


@pytest.fixture(scope="session")
def items_frame() -> pd.DataFrame:
    return synthetic_items()


@pytest.fixture(scope="session")
def fused_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small fused model (sequence + content + priors) trained on the synthetic catalogue,
    with the hashing encoder, as a bundle."""
    items = synthetic_items()
    ds = Dataset.from_frames(synthetic_events(items, n_users=48), items)
    emb = HashingEncoder().encode(item_texts(ds.items))
    model = create_model("fused", encoder="hashing", sequence=SMALL_SEQUENCE, holdout_users=48,
                         hard_negatives=5, random_negatives=5)
    model.fit(ds, item_embeddings=emb)
    return save_bundle(model, ds, tmp_path_factory.mktemp("fused") / "fused")


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@pytest.fixture
def two_processes(tmp_path) -> Iterator[tuple[ServiceCore, ServiceCore]]:
    """Two service cores on one SQLite file, as two server processes would be."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    here = ServiceCore(make_settings_for(url, None))
    there = ServiceCore(make_settings_for(url, None))
    yield here, there
    here.close()
    there.close()
