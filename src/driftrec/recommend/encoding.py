"""Text encoders for the service: the project's language models, plus a fast lexical one.

``hashing`` is a deterministic bag-of-words encoder (word uni- and bigrams hashed into
512 dimensions). It needs no model weights and loads instantly, which suits tests and
machines without the language-model packages; every other name goes to
:func:`driftrec.text.get_encoder` (``minilm``, ``use``, or a sentence-transformers folder).
"""

from __future__ import annotations

import re

import numpy as np

from driftrec.text import TextEncoder, get_encoder, l2_normalise
from driftrec.text.templates import text_rule_digest

HASHING = "hashing"
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


class HashingEncoder:
    """Signed feature hashing of lower-cased word uni- and bigrams, unit-normalised."""

    name = HASHING

    def __init__(self, dim: int = 512) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer

        self._dim = dim
        self._vec = HashingVectorizer(n_features=dim, ngram_range=(1, 2), norm="l2",
                                      alternate_sign=True, token_pattern=_TOKEN.pattern)

    @property
    def dim(self) -> int:
        return self._dim

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        return l2_normalise(self._vec.transform(list(texts)).toarray())


def load_encoder(name: str) -> TextEncoder:
    """The encoder a setting names (see module docstring)."""
    if name == HASHING:
        return HashingEncoder()
    return get_encoder(name)


def embedding_key(encoder: str, template: str | None = None) -> str:
    """What a stored item vector was made with: the encoder and the item text rule.

    Items whose key differs from the service's are re-embedded at start-up and when a model
    with another text template is loaded (see :func:`driftrec.text.templates.item_text`).
    """
    return f"{encoder}#{text_rule_digest(template)}"


def to_bytes(vec: np.ndarray) -> bytes:
    return np.asarray(vec, dtype=np.float32).tobytes()


def from_bytes(data: bytes | None, dim: int) -> np.ndarray | None:
    if not data:
        return None
    vec = np.frombuffer(data, dtype=np.float32)
    return vec if vec.shape == (dim,) else None
