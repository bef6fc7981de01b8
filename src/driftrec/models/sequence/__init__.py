"""Interest-evolution sequence model: a causal transformer over each user's items.

The model classes import torch, so they are loaded on first use: checking and listing the
options (:mod:`driftrec.models.sequence.config`) needs no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from driftrec.models.sequence.config import SASRecConfig, SequenceConfig

if TYPE_CHECKING:
    from driftrec.models.sequence.model import SASRec, SASRecText, SequenceRecommender

__all__ = ["SASRec", "SASRecConfig", "SASRecText", "SequenceConfig", "SequenceRecommender"]
_MODEL_CLASSES = ("SASRec", "SASRecText", "SequenceRecommender")


def __getattr__(name: str) -> Any:
    if name in _MODEL_CLASSES:
        from driftrec.models.sequence import model

        return getattr(model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
