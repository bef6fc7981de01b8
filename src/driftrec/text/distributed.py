"""Catalogue encoding on Ray: many encoder processes, one or many machines.

:class:`RayEncoder` is a :class:`~driftrec.text.encoders.TextEncoder` whose ``encode``
sends the texts through Ray Data: ``map_batches`` over an actor pool, each actor holding
one copy of the encoder (loaded once, reused for every batch it gets). It has the same
``name`` as the encoder it wraps, so the embedding cache is shared: encode a large
catalogue on Ray once (``driftrec interest embed ... --ray auto``) and every later
``driftrec train`` reads the vectors from the cache.

Rows come back in input order and each is what the wrapped encoder gives for that text
alone: the lexical ``hashing`` encoder is bit-identical, a transformer agrees to float
rounding (texts are padded with different neighbours in a batch).

``address`` says where Ray runs (:func:`driftrec.utils.ray_cluster.connect`): ``local``,
``auto`` or a cluster address. Ray is an optional dependency (``pip install "ray[data]"``,
the ``ray`` extra).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

from driftrec.utils.ray_cluster import connect

log = logging.getLogger(__name__)

#: How many texts one ``encode`` call hands to Ray (``embed_items`` feeds it this many).
CALL_SIZE = 200_000


class _EncoderActor:
    """One encoder per Ray actor process; ``__call__`` encodes one batch of texts."""

    def __init__(self, encoder: str, threads: int) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import torch

            torch.set_num_threads(threads)
        except ImportError:  # the hashing encoder needs no torch
            pass
        from driftrec.recommend.encoding import load_encoder

        self.encoder = load_encoder(encoder)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self.encoder.encode([str(t) for t in batch["text"]])
        return {"row": batch["row"], "vector": np.asarray(vectors, dtype=np.float32)}


class RayEncoder:
    """A text encoder that runs ``workers`` copies of ``encoder`` as Ray actors."""

    def __init__(self, encoder: str, *, address: str = "auto", workers: int = 2,
                 batch_size: int = 256, threads_per_worker: int = 1,
                 init: dict[str, Any] | None = None) -> None:
        if not isinstance(encoder, str):
            raise TypeError("RayEncoder takes an encoder name or model folder, which each "
                            "worker loads itself")
        from driftrec.recommend.encoding import load_encoder

        self._local = load_encoder(encoder)  # name and dim; weights load lazily, if ever
        self.name = self._local.name
        self.encoder, self.address, self.workers = encoder, address, workers
        self.batch_size, self.threads_per_worker = batch_size, threads_per_worker
        self.call_size = CALL_SIZE
        self._init = init or {}

    @property
    def dim(self) -> int:
        return self._local.dim

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        connect(self.address, workers=self.workers, **self._init)
        import pandas as pd
        import ray.data

        frame = pd.DataFrame({"row": np.arange(len(texts)), "text": [str(t) for t in texts]})
        # several blocks, so that every actor gets work (one block feeds one actor)
        step = max(self.batch_size, -(-len(texts) // (4 * self.workers)))
        ds = ray.data.from_pandas([frame.iloc[i:i + step] for i in range(0, len(texts), step)])
        # a fixed pool of actors, each holding one encoder for all the batches it gets
        out = ds.map_batches(
            _EncoderActor, fn_constructor_args=(self.encoder, self.threads_per_worker),
            batch_size=self.batch_size, compute=ray.data.ActorPoolStrategy(size=self.workers),
            num_cpus=self.threads_per_worker, batch_format="numpy")
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for batch in out.iter_batches(batch_size=None, batch_format="numpy"):
            vectors[batch["row"]] = np.stack(batch["vector"])
        return vectors
