"""The contract every recommender keeps: ``fit``, ``score``, ``save``, ``load``.

A model is fitted on a :class:`~driftrec.data.dataset.Dataset` (its ``events`` are the
training events) and scores *histories*, not user ids: the same call serves offline
evaluation (histories from a split) and online serving (histories from the live interest
state), so an event changes the next recommendation without retraining.

Each model declares its options once, as a :class:`~driftrec.models.config.ModelConfig`
subclass in ``config_class``: ``Model(**options)`` checks them (an unknown or misspelled
option is an error naming it), ``model.settings`` is the typed result and ``model.config``
the same options as a plain dict.

Saved models are a directory holding ``model.json`` (name, every option with defaults
filled, item ids) plus whatever arrays the model needs, written with NumPy or
``torch.save`` of plain tensors; loading reads the options back through ``config_class``.
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
from driftrec.models.config import ModelConfig
from driftrec.models.registry import get_model_class

MODEL_FILE = "model.json"
ITEMS_FILE = "items.parquet"
M = TypeVar("M", bound="Recommender")


class Recommender(ABC):
    """Base class: subclasses set ``name`` and ``config_class`` and implement the four
    methods below."""

    name: ClassVar[str]
    #: The model's options: defaults, types, bounds and descriptions (none by default).
    config_class: ClassVar[type[ModelConfig]] = ModelConfig
    #: True when the model can score items it never saw in training (e.g. from their text):
    #: such a model implements :meth:`add_items`.
    handles_new_items: ClassVar[bool] = False
    #: How the model turns a history into interest vectors (event weights, half-lives), when
    #: it does: serving updates each user's stored interest state with the same settings,
    #: so profiles, segments and fallbacks see the user as the model does.
    interest_config: InterestConfig | None = None

    def __init__(self, **config: Any) -> None:
        self.settings = self.config_class.resolve(self.name, config)
        self.item_ids: np.ndarray = np.array([], dtype=object)

    @property
    def settings(self) -> ModelConfig:
        """The model's options (typed, immutable); assign a new one to change them."""
        return self._settings

    @settings.setter
    def settings(self, value: ModelConfig) -> None:
        if not isinstance(value, self.config_class):
            raise TypeError(f"{self.name} settings must be a {self.config_class.__name__}")
        self._settings = value
        self._config = value.to_dict()

    @property
    def config(self) -> dict[str, Any]:
        """Every option as a plain dict (a view of :attr:`settings`: read it, do not
        modify it)."""
        return self._config

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
        meta = {"name": self.name, "config": self.settings.to_dict(),
                "item_ids": list(map(str, self.item_ids))}
        (directory / MODEL_FILE).write_text(json.dumps(meta))
        self._save_state(directory)
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> Recommender:
        """Load any saved model; dispatches on the name recorded in ``model.json`` and reads
        its options back through the model's ``config_class``."""
        directory = Path(directory)
        meta = json.loads((directory / MODEL_FILE).read_text())
        model_cls = get_model_class(meta["name"])
        settings = model_cls.config_class.from_saved(model_cls.name, meta.get("config"))
        model = model_cls(**settings.to_dict())
        model.item_ids = np.asarray(meta["item_ids"], dtype=object)
        model._load_state(directory)
        return model

    def _save_state(self, directory: Path) -> None:  # noqa: B027 - optional hook
        """Write model arrays; the default has nothing to write."""

    def _load_state(self, directory: Path) -> None:  # noqa: B027 - optional hook
        """Read what ``_save_state`` wrote."""
