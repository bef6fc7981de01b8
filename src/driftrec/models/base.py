"""The contract every recommender keeps: ``fit``, ``score``, ``save``, ``load``.

A model is fitted on a :class:`~driftrec.data.dataset.Dataset` (its ``events`` are the
training events) and scores *histories*, not user ids: the same call serves offline
evaluation (histories from a split) and online serving (histories from the live interest
state), so an event changes the next recommendation without retraining.

Saved models are a directory holding ``model.json`` (name, config, item ids) plus whatever
arrays the model needs, written with NumPy or ``torch.save`` of plain tensors.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from driftrec.data.dataset import Dataset, Histories
from driftrec.interest.config import InterestConfig

MODEL_FILE = "model.json"
ITEMS_FILE = "items.parquet"
M = TypeVar("M", bound="Recommender")


class Recommender(ABC):
    """Base class: subclasses set ``name`` and implement the four methods below."""

    name: ClassVar[str]
    #: True when the model can score items it never saw in training (e.g. from their text):
    #: such a model implements :meth:`add_items`.
    handles_new_items: ClassVar[bool] = False
    #: How the model turns a history into interest vectors (event weights, half-lives), when
    #: it does: serving updates each user's stored interest state with the same settings,
    #: so profiles, segments and fallbacks see the user as the model does.
    interest_config: InterestConfig | None = None

    def __init__(self, **config: Any) -> None:
        self.config: dict[str, Any] = dict(config)
        self.item_ids: np.ndarray = np.array([], dtype=object)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @abstractmethod
    def fit(self: M, dataset: Dataset) -> M:
        """Learn from ``dataset.events`` over the catalogue ``dataset.items``."""

    @abstractmethod
    def score(self, histories: Histories) -> np.ndarray:
        """Scores, shape ``(len(histories), n_items)``; higher is more relevant."""

    def add_items(self, item_ids: Sequence[str], text_embeddings: np.ndarray) -> None:
        """Make items added after training scorable at once from their text embeddings
        (one row per id, from the same encoder the model was trained with)."""
        raise NotImplementedError(f"the {self.name} model cannot score items it was not "
                                  f"trained on")

    @property
    def text_template(self) -> str | None:
        """The item text template the model's catalogue was embedded with (None: default)."""
        return self.config.get("template")

    def save(self, directory: str | Path) -> Path:
        """Write config and item ids; subclasses add their arrays in ``_save_state``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {"name": self.name, "config": self.config, "item_ids": list(map(str, self.item_ids))}
        (directory / MODEL_FILE).write_text(json.dumps(meta))
        self._save_state(directory)
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> Recommender:
        """Load any saved model; dispatches on the name recorded in ``model.json``."""
        from driftrec.models.registry import get_model_class

        directory = Path(directory)
        meta = json.loads((directory / MODEL_FILE).read_text())
        model_cls = get_model_class(meta["name"])
        model = model_cls(**meta["config"])
        model.item_ids = np.asarray(meta["item_ids"], dtype=object)
        model._load_state(directory)
        return model

    def _save_state(self, directory: Path) -> None:  # noqa: B027 - optional hook
        """Write model arrays; the default has nothing to write."""

    def _load_state(self, directory: Path) -> None:  # noqa: B027 - optional hook
        """Read what ``_save_state`` wrote."""
