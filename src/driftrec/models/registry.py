"""Model names the CLI and configs accept, mapped to classes (imported lazily)."""

from __future__ import annotations

import importlib

from driftrec.models.base import Recommender

#: name -> "module:Class". ``default`` is the best model the project has.
MODELS: dict[str, str] = {
    "pop": "driftrec.models.popularity:Popularity",
    "itemknn": "driftrec.models.itemknn:ItemKNN",
    "ease": "driftrec.models.ease:EASE",
    "content": "driftrec.models.content:ContentRecommender",
    "sasrec": "driftrec.models.sequence:SASRec",
    "sasrec-text": "driftrec.models.sequence:SASRecText",
    "fused": "driftrec.models.fusion:FusedRecommender",
}
ALIASES: dict[str, str] = {"default": "fused"}


def resolve_name(name: str) -> str:
    return ALIASES.get(name, name)


def get_model_class(name: str) -> type[Recommender]:
    key = resolve_name(name)
    if key not in MODELS:
        known = ", ".join(sorted([*MODELS, *ALIASES]))
        raise ValueError(f"unknown model {name!r}; known models: {known}")
    module_name, class_name = MODELS[key].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def create_model(name: str, **config) -> Recommender:
    return get_model_class(name)(**config)
