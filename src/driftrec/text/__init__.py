"""Text layer: encoders, item text templates and the embedding cache."""

from driftrec.text.cache import EmbeddingCache, encode_texts
from driftrec.text.encoders import (
    MissingModelError,
    TextEncoder,
    get_encoder,
    l2_normalise,
)
from driftrec.text.templates import item_text, item_texts, render

__all__ = [
    "EmbeddingCache",
    "MissingModelError",
    "TextEncoder",
    "encode_texts",
    "get_encoder",
    "item_text",
    "item_texts",
    "l2_normalise",
    "render",
]
