"""Embeddings of a dataset's item catalogue: row ``i`` is the vector of item index ``i``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from driftrec.data.dataset import Dataset
from driftrec.text.cache import encode_texts
from driftrec.text.encoders import TextEncoder, get_encoder
from driftrec.text.templates import item_texts


def embed_items(
    dataset: Dataset,
    encoder: TextEncoder | str | None = None,
    template: str | None = None,
    cache_dir: str | Path | None = None,
    *,
    progress: bool = True,
) -> np.ndarray:
    """``(dataset.n_items, dim)`` float32 unit-norm item text embeddings, cached on disk."""
    enc = get_encoder(encoder)
    texts = item_texts(dataset.items, template)
    # an encoder that spreads work (e.g. over Ray) says how many texts to give it per call
    return encode_texts(texts, enc, cache_dir=cache_dir, progress=progress,
                        batch_size=getattr(enc, "call_size", 256),
                        description=f"embedding {len(texts)} items")
