"""Model names the CLI and configs accept, mapped to classes (imported lazily).

This module imports no model (and so neither NumPy-heavy code nor torch) until a class is
asked for, and :mod:`driftrec.models.base` imports it, not the other way round.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from driftrec.models.base import Recommender
    from driftrec.models.config import ModelConfig

#: name -> "module:Class". ``default`` is the best model the project has.
MODELS: dict[str, str] = {
    "pop": "driftrec.models.popularity:Popularity",
    "itemknn": "driftrec.models.itemknn:ItemKNN",
    "ease": "driftrec.models.ease:EASE",
    "content": "driftrec.models.content:ContentRecommender",
    "sasrec": "driftrec.models.sequence.model:SASRec",
    "sasrec-text": "driftrec.models.sequence.model:SASRecText",
    "fused": "driftrec.models.fusion:FusedRecommender",
}
ALIASES: dict[str, str] = {"default": "fused"}
#: Where the options of a model whose module is heavy (torch) live, so that checking and
#: listing options imports no torch; each must be the model's own ``config_class``.
CONFIGS: dict[str, str] = {
    "sasrec": "driftrec.models.sequence.config:SASRecConfig",
    "sasrec-text": "driftrec.models.sequence.config:SequenceConfig",
}


def resolve_name(name: str) -> str:
    return ALIASES.get(name, name)


def _key(name: str) -> str:
    key = resolve_name(name)
    if key not in MODELS:
        known = ", ".join(sorted([*MODELS, *ALIASES]))
        raise ValueError(f"unknown model {name!r}; known models: {known}")
    return key


def _import(path: str) -> Any:
    module_name, attr = path.split(":")
    return getattr(importlib.import_module(module_name), attr)


def get_model_class(name: str) -> type[Recommender]:
    return _import(MODELS[_key(name)])


def config_class(name: str) -> type[ModelConfig]:
    """The class of model ``name``'s options (without importing a heavy model module)."""
    key = _key(name)
    if key in CONFIGS:
        return _import(CONFIGS[key])
    return get_model_class(key).config_class


def validate_config(name: str, options: Mapping[str, Any] | None = None) -> ModelConfig:
    """Model ``name``'s options with defaults filled; a
    :class:`~driftrec.models.config.ModelConfigError` naming the model and each bad key."""
    return config_class(name).resolve(resolve_name(name), options)


def create_model(name: str, **config: Any) -> Recommender:
    return get_model_class(name)(**config)
