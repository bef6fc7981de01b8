"""A trained-model directory: the model plus the catalogue and events it was fitted on.

``MODEL_DIR/`` holds the model's own files (``model.json`` ...), ``catalogue/items.parquet``,
``catalogue/users.parquet`` and ``catalogue/events.parquet`` (the training histories that
``recommend`` and the service start from), and ``bundle.json`` (what was trained, when).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from driftrec.data.dataset import Dataset
from driftrec.data.schema import EVENT_COLUMNS
from driftrec.models.base import Recommender

BUNDLE_FILE = "bundle.json"
CATALOGUE_DIR = "catalogue"


def save_bundle(model: Recommender, dataset: Dataset, directory: str | Path,
                **info: object) -> Path:
    directory = Path(directory)
    model.save(directory)
    cat = directory / CATALOGUE_DIR
    cat.mkdir(parents=True, exist_ok=True)
    dataset.items.astype(str).to_parquet(cat / "items.parquet", index=False)
    dataset.users.astype(str).to_parquet(cat / "users.parquet", index=False)
    dataset.events[list(EVENT_COLUMNS)].to_parquet(cat / "events.parquet", index=False)
    meta = {
        "model": model.name,
        "config": model.config,
        "dataset": dataset.name,
        "users": dataset.n_users,
        "items": dataset.n_items,
        "events": len(dataset.events),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **info,
    }
    (directory / BUNDLE_FILE).write_text(json.dumps(meta, indent=2, default=str))
    return directory


def load_bundle(directory: str | Path) -> tuple[Recommender, Dataset]:
    """The model and the dataset (same item order) it was trained on."""
    directory = Path(directory)
    if not (directory / BUNDLE_FILE).exists():
        raise FileNotFoundError(f"{directory} is not a trained model directory "
                                f"(no {BUNDLE_FILE}); create one with `driftrec train`")
    model = Recommender.load(directory)
    cat = directory / CATALOGUE_DIR
    events = pd.read_parquet(cat / "events.parquet")
    dataset = Dataset.from_frames(
        events, pd.read_parquet(cat / "items.parquet"), pd.read_parquet(cat / "users.parquet"),
        name=json.loads((directory / BUNDLE_FILE).read_text()).get("dataset", "dataset"),
    )
    return model, dataset
