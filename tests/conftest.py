"""Shared fixtures: a tiny hand-made dataset and the real MovieLens-100K."""

from __future__ import annotations

import os

import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from driftrec.data.dataset import Dataset


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
