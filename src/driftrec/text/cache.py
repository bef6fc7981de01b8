"""Disk cache of text embeddings keyed by encoder name and text hash.

Each encoder has its own folder of shard files (``shard-*.npz``: text hashes + vectors).
A call loads the shards, encodes only the texts not seen before, in batches with a
progress bar, and writes the new vectors as one more shard. Ctrl-C keeps what was done:
the finished batches are written before the interrupt is re-raised.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
import uuid
from pathlib import Path

import numpy as np

from driftrec.text.encoders import TextEncoder, l2_normalise

log = logging.getLogger(__name__)

CACHE_ENV = "DRIFTREC_EMBEDDING_CACHE"
HASH_BYTES = 16


def default_cache_dir() -> Path:
    """``$DRIFTREC_EMBEDDING_CACHE``, else ``~/.cache/driftrec/embeddings``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "driftrec" / "embeddings"


def text_hash(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=HASH_BYTES).digest()


class EmbeddingCache:
    """Hash -> vector store for one encoder, backed by shard files in one folder."""

    def __init__(self, encoder_name: str, cache_dir: str | Path | None = None) -> None:
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", encoder_name).strip("_") or "encoder"
        self.directory = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        self.directory = self.directory / slug
        self._index: dict[bytes, tuple[int, int]] = {}
        self._shards: list[np.ndarray] = []
        self._loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        for path in sorted(self.directory.glob("shard-*.npz")):
            try:
                with np.load(path) as z:
                    keys, vecs = z["keys"], z["vectors"].astype(np.float32)
            except (OSError, KeyError, ValueError) as exc:
                log.warning("skipping unreadable embedding cache shard %s: %s", path, exc)
                continue
            self._add(keys, vecs)
        self._loaded = True

    def _add(self, keys: np.ndarray, vecs: np.ndarray) -> None:
        s = len(self._shards)
        self._shards.append(vecs)
        for row, key in enumerate(keys):
            self._index[bytes(key)] = (s, row)

    def __len__(self) -> int:
        self._load()
        return len(self._index)

    def get(self, hashes: list[bytes]) -> tuple[np.ndarray, np.ndarray | None]:
        """Mask of hits and their vectors stacked in order (``None`` when no hit)."""
        self._load()
        hit = np.fromiter((h in self._index for h in hashes), dtype=bool, count=len(hashes))
        if not hit.any():
            return hit, None
        rows = [self._shards[s][r] for s, r in (self._index[h] for h, ok in
                                                zip(hashes, hit, strict=True) if ok)]
        return hit, np.stack(rows)

    def put(self, hashes: list[bytes], vectors: np.ndarray) -> None:
        """Write new vectors as one shard (atomic rename, so readers never see half a file)."""
        if not len(hashes):
            return
        self._load()
        self.directory.mkdir(parents=True, exist_ok=True)
        keys = np.frombuffer(b"".join(hashes), dtype=np.uint8).reshape(len(hashes), HASH_BYTES)
        vectors = np.asarray(vectors, dtype=np.float32)
        name = f"shard-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
        tmp = self.directory / f".{name}.tmp.npz"
        np.savez(tmp, keys=keys, vectors=vectors)
        tmp.replace(self.directory / f"{name}.npz")
        self._add(keys, vectors)


def encode_texts(
    texts: list[str],
    encoder: TextEncoder,
    *,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    batch_size: int = 256,
    progress: bool = True,
    description: str = "encoding texts",
) -> np.ndarray:
    """Unit-norm embeddings of ``texts`` (rows in order), encoding only cache misses."""
    texts = [str(t) for t in texts]
    hashes = [text_hash(t) for t in texts]
    unique: dict[bytes, str] = dict(zip(hashes, texts, strict=True))
    cache = EmbeddingCache(encoder.name, cache_dir) if use_cache else None
    known: dict[bytes, np.ndarray] = {}
    if cache is not None:
        keys = list(unique)
        hit, vecs = cache.get(keys)
        if vecs is not None:
            known.update(zip([k for k, ok in zip(keys, hit, strict=True) if ok], vecs,
                             strict=True))
    todo = [k for k in unique if k not in known]
    if todo:
        if cache is not None:
            log.info("%s: %d of %d distinct texts not cached", encoder.name, len(todo),
                     len(unique))
        _encode_missing(todo, unique, encoder, known, cache, batch_size, progress, description)
    if not texts:
        return np.zeros((0, encoder.dim), dtype=np.float32)
    return l2_normalise(np.stack([known[h] for h in hashes]))


def _encode_missing(todo, unique, encoder, known, cache, batch_size, progress, description):
    from rich.progress import Progress

    done_keys: list[bytes] = []
    done_vecs: list[np.ndarray] = []
    try:
        with Progress(disable=not progress, transient=True) as bar:
            task = bar.add_task(description, total=len(todo))
            for start in range(0, len(todo), batch_size):
                batch = todo[start:start + batch_size]
                vecs = encoder.encode([unique[k] for k in batch])
                done_keys.extend(batch)
                done_vecs.append(vecs)
                known.update(zip(batch, vecs, strict=True))
                bar.advance(task, len(batch))
    finally:
        # Interrupted or not, the batches already encoded are kept for next time.
        if cache is not None and done_keys:
            cache.put(done_keys, np.concatenate(done_vecs))
