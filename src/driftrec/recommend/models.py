"""The served model and its version, swapped atomically on reload.

A model directory is either one saved model (it holds ``model.json``) or a folder of saved
versions (sub-folders holding ``model.json``), in which case the newest by name is served:
training into ``models/2025-01-31T12-00/`` and calling reload switches to it. Requests
that started on the old model finish on it; nothing is dropped.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from driftrec.data.schema import ITEM_ID, USER_ID
from driftrec.models.base import MODEL_FILE, Recommender
from driftrec.models.bundle import CATALOGUE_DIR

log = logging.getLogger(__name__)

#: What the ``source`` field says for items a model of this name put forward.
SOURCE_NAMES = {"pop": "popularity", "sasrec": "sequence", "sequence": "sequence",
                "fused": "fused", "fusion": "fused", "content": "content"}


class ModelLoadError(RuntimeError):
    """A model directory that cannot be served."""


@dataclass
class LoadedModel:
    """A loaded model with what serving needs next to it."""

    model: Recommender
    version: str
    path: str
    item_pos: dict[str, int] = field(default_factory=dict)
    #: Events per item in the data the model was trained on (empty if not bundled).
    train_counts: dict[str, int] = field(default_factory=dict)
    #: Row of each training user (by pseudonymous key) in the model's user arrays.
    user_rows: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def source(self) -> str:
        return SOURCE_NAMES.get(self.model.name, self.model.name)


def resolve_model_dir(path: str | Path) -> Path:
    """The saved-model folder to serve from ``path`` (itself, or its newest version)."""
    path = Path(path).expanduser()
    if (path / MODEL_FILE).is_file():
        return path
    if path.is_dir():
        versions = sorted(p for p in path.iterdir() if (p / MODEL_FILE).is_file())
        if versions:
            return versions[-1]
    raise ModelLoadError(f"model directory {str(path)!r} holds no {MODEL_FILE} "
                         f"(train one with: driftrec train ... --out {path})")


def model_version(directory: Path) -> str:
    """Folder name plus a digest of the saved files, so a retrain in place is a new version."""
    digest = hashlib.sha256()
    for f in sorted(p for p in directory.iterdir() if p.is_file()):
        st = f.stat()
        digest.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return f"{directory.name}-{digest.hexdigest()[:12]}"


def training_counts(directory: Path) -> dict[str, int]:
    """Events per item in a bundle's training events, the popularity a fresh service starts
    from before its own events accumulate."""
    path = directory / CATALOGUE_DIR / "events.parquet"
    if not path.is_file():
        return {}
    try:
        items = pd.read_parquet(path, columns=[ITEM_ID])[ITEM_ID].astype(str)
    except Exception as exc:
        log.warning("cannot read training events %s: %s", path, exc)
        return {}
    return {str(k): int(v) for k, v in items.value_counts().items()}


def training_users(directory: Path) -> list[str]:
    """The bundle's user ids in the order of the model's user rows (empty if not bundled)."""
    path = directory / CATALOGUE_DIR / "users.parquet"
    if not path.is_file():
        return []
    try:
        return pd.read_parquet(path, columns=[USER_ID])[USER_ID].astype(str).tolist()
    except Exception as exc:
        log.warning("cannot read training users %s: %s", path, exc)
        return []


def load_model(path: str | Path) -> LoadedModel:
    directory = resolve_model_dir(path)
    try:
        model = Recommender.load(directory)
    except Exception as exc:
        raise ModelLoadError(f"cannot load the model in {str(directory)!r}: {exc}") from exc
    ids = np.asarray(model.item_ids, dtype=object)
    loaded = LoadedModel(model=model, version=model_version(directory), path=str(directory),
                         item_pos={str(x): i for i, x in enumerate(ids)},
                         train_counts=training_counts(directory))
    log.info("loaded model %s (%s, %d items) from %s", loaded.version, model.name,
             len(ids), directory)
    return loaded


class ModelHolder:
    """Holds the current model; ``current`` is read lock-free, ``swap`` replaces it."""

    def __init__(self, loaded: LoadedModel | None = None) -> None:
        self._current = loaded
        self._lock = threading.Lock()

    @property
    def current(self) -> LoadedModel | None:
        return self._current

    def swap(self, loaded: LoadedModel) -> LoadedModel | None:
        with self._lock:
            previous, self._current = self._current, loaded
        return previous
