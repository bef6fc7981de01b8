"""Candidate retrieval over item vectors: exact below a size threshold, approximate above.

A recommendation for a user starts with candidate items near the user's vector (an
interest vector against item text vectors, or a model's user representation against its
item embeddings; both by inner product). Up to :data:`ANN_THRESHOLD` items (the setting
``DRIFTREC_ANN_THRESHOLD``) an exact matrix product over every item is fast enough (a few
milliseconds per query at 100K x 384) and is what :class:`ExactIndex` does. Past it,
:class:`ItemIndex` switches to an approximate index from faiss (``faiss-cpu``): inverted
lists (IVF, the default) or a neighbour graph (HNSW); hnswlib's HNSW is used only when
faiss is not installed.

Every index has the same small interface: ``add(vectors, labels)`` (incremental; labels
are the caller's integer item indices), ``search(queries, k) -> (labels, scores)`` by
inner product (``-1`` / ``-inf`` pad rows with fewer than ``k`` items), ``len()``,
``save(folder)`` and :func:`load_index`.

    index = ItemIndex(dim=384)                 # exact now, IVF once it holds 100K items
    index.add(item_vectors, np.arange(n_items))
    labels, scores = index.search(user_vectors, k=100)

``benchmarks/bench_ann.py`` measures recall@100 against exact search and latency on unit
vectors (cosine); for un-normalised model embeddings recall also depends on the norms.

Not wired into :class:`driftrec.recommend.pipeline.RecommendationEngine` yet: it still
scores every item. docs/scaling.md ("How it plugs into serving") says where the index
goes (the catalogue and the loaded model keep one each; ``recommend`` scores only the
retrieved pool once the universe passes ``ann_threshold``).
"""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)

#: Items past which candidate retrieval is approximate (setting ``ann_threshold``).
ANN_THRESHOLD = 100_000
META = "index.json"


class VectorIndex(Protocol):
    kind: str
    dim: int

    def __len__(self) -> int: ...

    def add(self, vectors: np.ndarray, labels: np.ndarray | None = None) -> None: ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...

    def save(self, folder: str | Path) -> Path: ...


def _as_rows(x: np.ndarray, dim: int) -> np.ndarray:
    x = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"expected vectors of dimension {dim}, got shape {x.shape}")
    return x


def _labels(labels: np.ndarray | None, start: int, n: int) -> np.ndarray:
    if labels is None:
        return np.arange(start, start + n, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64).ravel()
    if len(labels) != n:
        raise ValueError(f"{n} vectors but {len(labels)} labels")
    return labels


def _write_meta(folder: Path, meta: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / META).write_text(json.dumps(meta, indent=2))
    return folder


class ExactIndex:
    """Brute-force inner product over every vector: exact, and fast up to ~100K items."""

    kind = "exact"

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._vectors = np.zeros((0, dim), dtype=np.float32)
        self._labels = np.zeros(0, dtype=np.int64)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    @property
    def vectors(self) -> np.ndarray:
        return self._vectors[:self._n]

    @property
    def labels(self) -> np.ndarray:
        return self._labels[:self._n]

    def add(self, vectors: np.ndarray, labels: np.ndarray | None = None) -> None:
        vectors = _as_rows(vectors, self.dim)
        labels = _labels(labels, self._n, len(vectors))
        need = self._n + len(vectors)
        if need > len(self._vectors):  # grow geometrically: adding one item is O(1) amortised
            size = max(need, 2 * len(self._vectors), 1024)
            grown = np.zeros((size, self.dim), dtype=np.float32)
            grown[:self._n] = self.vectors
            grown_labels = np.zeros(size, dtype=np.int64)
            grown_labels[:self._n] = self.labels
            self._vectors, self._labels = grown, grown_labels
        self._vectors[self._n:need] = vectors
        self._labels[self._n:need] = labels
        self._n = need

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = _as_rows(queries, self.dim)
        out_labels = np.full((len(queries), k), -1, dtype=np.int64)
        out_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        n = self._n
        if n == 0 or k <= 0:
            return out_labels, out_scores
        kk = min(k, n)
        for lo in range(0, len(queries), 256):  # bounded memory for many queries
            scores = queries[lo:lo + 256] @ self.vectors.T
            top = (np.argpartition(-scores, kk - 1, axis=1)[:, :kk] if kk < n
                   else np.broadcast_to(np.arange(n), scores.shape))
            top_scores = np.take_along_axis(scores, top, axis=1)
            order = np.argsort(-top_scores, axis=1, kind="stable")
            rows = slice(lo, lo + len(scores))
            out_labels[rows, :kk] = self.labels[np.take_along_axis(top, order, axis=1)]
            out_scores[rows, :kk] = np.take_along_axis(top_scores, order, axis=1)
        return out_labels, out_scores

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        _write_meta(folder, {"kind": self.kind, "dim": self.dim, "size": self._n})
        np.save(folder / "vectors.npy", self.vectors)
        np.save(folder / "labels.npy", self.labels)
        return folder

    @classmethod
    def load(cls, folder: Path, meta: dict) -> ExactIndex:
        index = cls(int(meta["dim"]))
        index.add(np.load(folder / "vectors.npy"), np.load(folder / "labels.npy"))
        return index


class FaissHNSWIndex:
    """faiss ``IndexHNSWFlat`` on inner product; items can be added at any time."""

    kind = "faiss-hnsw"

    def __init__(self, dim: int, *, m: int = 16, ef_construction: int = 100,
                 ef_search: int = 128) -> None:
        import faiss

        self.dim, self.m = dim, m
        self.ef_construction, self.ef_search = ef_construction, ef_search
        self._index = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
        self._index.hnsw.efConstruction = ef_construction
        self._index.hnsw.efSearch = ef_search
        self._labels = np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def set_ef_search(self, ef_search: int) -> None:
        self.ef_search = ef_search
        self._index.hnsw.efSearch = ef_search

    def add(self, vectors: np.ndarray, labels: np.ndarray | None = None) -> None:
        vectors = _as_rows(vectors, self.dim)
        self._labels = np.concatenate([self._labels, _labels(labels, len(self), len(vectors))])
        self._index.add(vectors)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = _as_rows(queries, self.dim)
        if len(self) == 0 or k <= 0:
            return (np.full((len(queries), k), -1, dtype=np.int64),
                    np.full((len(queries), k), -np.inf, dtype=np.float32))
        import faiss

        # the graph search keeps ef candidates: at least k (per call, so thread-safe)
        params = faiss.SearchParametersHNSW(efSearch=max(self.ef_search, k))
        scores, rows = self._index.search(queries, k, params=params)
        missing = rows < 0
        labels = self._labels[np.where(missing, 0, rows)]
        labels[missing] = -1
        scores[missing] = -np.inf
        return labels, scores

    def save(self, folder: str | Path) -> Path:
        import faiss

        folder = _write_meta(Path(folder), {
            "kind": self.kind, "dim": self.dim, "size": len(self), "m": self.m,
            "ef_construction": self.ef_construction, "ef_search": self.ef_search})
        faiss.write_index(self._index, str(folder / "index.faiss"))
        np.save(folder / "labels.npy", self._labels)
        return folder

    @classmethod
    def load(cls, folder: Path, meta: dict) -> FaissHNSWIndex:
        import faiss

        index = cls(int(meta["dim"]), m=meta["m"], ef_construction=meta["ef_construction"],
                    ef_search=meta["ef_search"])
        index._index = faiss.read_index(str(folder / "index.faiss"))
        index._index.hnsw.efSearch = index.ef_search
        index._labels = np.load(folder / "labels.npy")
        return index


class FaissIVFIndex:
    """faiss ``IndexIVFFlat`` on inner product: k-means lists, ``nprobe`` of them searched.

    Much faster to build than HNSW (a k-means on a sample, then one assignment per item);
    the lists are trained on the first ``add`` (which should hold a representative batch,
    e.g. the catalogue at the switch), later items are assigned to the trained lists.
    ``nlist=0`` picks ``2 * sqrt(n)`` for the first batch's ``n``. Rebuild the index when
    the catalogue has grown several-fold since (the lists then hold too many items each).
    """

    kind = "faiss-ivf"

    def __init__(self, dim: int, *, nlist: int = 0, nprobe: int = 32,
                 train_sample: int = 50_000, seed: int = 0) -> None:
        self.dim, self.nlist, self.nprobe = dim, nlist, nprobe
        self.train_sample, self.seed = train_sample, seed
        self._index = None
        self._labels = np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return 0 if self._index is None else int(self._index.ntotal)

    def set_nprobe(self, nprobe: int) -> None:
        self.nprobe = nprobe
        if self._index is not None:
            self._index.nprobe = nprobe

    def _train(self, vectors: np.ndarray) -> None:
        import faiss

        n = len(vectors)
        nlist = self.nlist or max(1, round(2 * np.sqrt(n)))
        nlist = max(1, min(nlist, n // 39 or 1))  # faiss wants ~39 points per centroid
        self.nlist = nlist
        quantizer = faiss.IndexFlatIP(self.dim)
        index = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = self.seed
        rng = np.random.default_rng(self.seed)
        sample = vectors if n <= self.train_sample else vectors[
            np.sort(rng.choice(n, self.train_sample, replace=False))]
        index.train(sample)
        index.nprobe = self.nprobe
        self._index = index

    def add(self, vectors: np.ndarray, labels: np.ndarray | None = None) -> None:
        vectors = _as_rows(vectors, self.dim)
        if not len(vectors):
            return
        if self._index is None:
            self._train(vectors)
        self._labels = np.concatenate([self._labels, _labels(labels, len(self), len(vectors))])
        self._index.add(vectors)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = _as_rows(queries, self.dim)
        if len(self) == 0 or k <= 0:
            return (np.full((len(queries), k), -1, dtype=np.int64),
                    np.full((len(queries), k), -np.inf, dtype=np.float32))
        scores, rows = self._index.search(queries, k)
        missing = rows < 0
        labels = self._labels[np.where(missing, 0, rows)]
        labels[missing] = -1
        scores[missing] = -np.inf
        return labels, scores

    def save(self, folder: str | Path) -> Path:
        import faiss

        folder = _write_meta(Path(folder), {
            "kind": self.kind, "dim": self.dim, "size": len(self), "nlist": self.nlist,
            "nprobe": self.nprobe, "train_sample": self.train_sample, "seed": self.seed})
        if self._index is not None:
            faiss.write_index(self._index, str(folder / "index.faiss"))
        np.save(folder / "labels.npy", self._labels)
        return folder

    @classmethod
    def load(cls, folder: Path, meta: dict) -> FaissIVFIndex:
        import faiss

        index = cls(int(meta["dim"]), nlist=meta["nlist"], nprobe=meta["nprobe"],
                    train_sample=meta["train_sample"], seed=meta["seed"])
        if (folder / "index.faiss").exists():
            index._index = faiss.read_index(str(folder / "index.faiss"))
            index._index.nprobe = index.nprobe
        index._labels = np.load(folder / "labels.npy")
        return index


class HnswlibIndex:
    """hnswlib's HNSW on inner product: the fallback when faiss is not installed."""

    kind = "hnswlib"

    def __init__(self, dim: int, *, m: int = 16, ef_construction: int = 100,
                 ef_search: int = 128, capacity: int = 1024) -> None:
        import hnswlib

        self.dim, self.m = dim, m
        self.ef_construction, self.ef_search = ef_construction, ef_search
        self._index = hnswlib.Index(space="ip", dim=dim)
        self._index.init_index(max_elements=capacity, M=m, ef_construction=ef_construction)
        self._index.set_ef(ef_search)

    def __len__(self) -> int:
        return int(self._index.get_current_count())

    def set_ef_search(self, ef_search: int) -> None:
        self.ef_search = ef_search
        self._index.set_ef(ef_search)

    def add(self, vectors: np.ndarray, labels: np.ndarray | None = None) -> None:
        vectors = _as_rows(vectors, self.dim)
        labels = _labels(labels, len(self), len(vectors))
        need = len(self) + len(vectors)
        if need > self._index.get_max_elements():
            self._index.resize_index(max(need, 2 * self._index.get_max_elements()))
        self._index.add_items(vectors, labels)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = _as_rows(queries, self.dim)
        kk = min(k, len(self))
        labels = np.full((len(queries), k), -1, dtype=np.int64)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        if kk > 0:
            self._index.set_ef(max(self.ef_search, kk))
            found, dist = self._index.knn_query(queries, k=kk)
            labels[:, :kk], scores[:, :kk] = found, 1.0 - dist  # "ip" distance is 1 - dot
        return labels, scores

    def save(self, folder: str | Path) -> Path:
        folder = _write_meta(Path(folder), {
            "kind": self.kind, "dim": self.dim, "size": len(self), "m": self.m,
            "ef_construction": self.ef_construction, "ef_search": self.ef_search})
        self._index.save_index(str(folder / "index.hnswlib"))
        return folder

    @classmethod
    def load(cls, folder: Path, meta: dict) -> HnswlibIndex:
        index = cls(int(meta["dim"]), m=meta["m"], ef_construction=meta["ef_construction"],
                    ef_search=meta["ef_search"])
        index._index.load_index(str(folder / "index.hnswlib"),
                                max_elements=max(int(meta["size"]), 1))
        index._index.set_ef(index.ef_search)
        return index


def ann_backend() -> str | None:
    """``faiss`` when faiss-cpu is installed, else ``hnswlib`` when it is, else None."""
    for name in ("faiss", "hnswlib"):
        if importlib.util.find_spec(name) is not None:
            return name
    return None


def make_ann_index(dim: int, backend: str = "auto", method: str = "ivf",
                   **params) -> VectorIndex:
    """An empty approximate index: ``backend`` auto, faiss or hnswlib; ``method`` hnsw or
    ivf (faiss only)."""
    backend = ann_backend() if backend == "auto" else backend
    if backend == "faiss":
        if method == "ivf":
            return FaissIVFIndex(dim, **params)
        return FaissHNSWIndex(dim, **params)
    if backend == "hnswlib":
        return HnswlibIndex(dim, **params)
    raise ImportError("approximate retrieval needs faiss-cpu (pip install faiss-cpu) "
                      "or hnswlib")


class ItemIndex:
    """Exact up to ``threshold`` items, then approximate: the switch happens once, on the
    ``add`` that reaches the threshold (the exact vectors are moved into the ANN index,
    which for IVF trains its lists on them). Without an ANN library it stays exact and
    logs a warning once.

    ``method`` is ``ivf`` (default: on 200K clustered vectors it builds 20x faster than
    HNSW and finds more of the true top 100 at the same latency, see docs/scaling.md) or
    ``hnsw`` (no training: better when the catalogue's make-up changes a lot after the
    switch).
    """

    def __init__(self, dim: int, *, threshold: int = ANN_THRESHOLD, backend: str = "auto",
                 method: str = "ivf", **params) -> None:
        self.dim, self.threshold, self.backend, self.params = dim, threshold, backend, params
        self.method = method if (backend == "faiss" or (backend == "auto" and
                                                          ann_backend() == "faiss")) else "hnsw"
        self.index: VectorIndex = ExactIndex(dim)
        self._warned = False

    @property
    def kind(self) -> str:
        return self.index.kind

    def __len__(self) -> int:
        return len(self.index)

    def add(self, vectors: np.ndarray, labels: np.ndarray | None = None) -> None:
        vectors = _as_rows(vectors, self.dim)
        labels = _labels(labels, len(self), len(vectors))
        if isinstance(self.index, ExactIndex) and len(self) + len(vectors) >= self.threshold:
            try:
                ann = make_ann_index(self.dim, self.backend, self.method, **self.params)
            except ImportError as exc:
                if not self._warned:
                    log.warning("%s; candidate retrieval stays exact", exc)
                    self._warned = True
            else:
                log.info("%d items: candidate retrieval switches to %s", len(self) +
                         len(vectors), ann.kind)
                # one add of everything: IVF trains its lists on the whole catalogue (the
                # first add of a large catalogue goes in as given: no copy of a copy)
                if len(self.index):
                    vectors = np.concatenate([self.index.vectors, vectors])
                    labels = np.concatenate([self.index.labels, labels])
                ann.add(vectors, labels)
                self.index = ann
                return
        self.index.add(vectors, labels)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.index.search(queries, k)

    def save(self, folder: str | Path) -> Path:
        folder = self.index.save(folder)
        meta = json.loads((folder / META).read_text())
        meta["item_index"] = {"threshold": self.threshold, "backend": self.backend,
                              "method": self.method, "params": self.params}
        return _write_meta(folder, meta)


_KINDS = {cls.kind: cls for cls in (ExactIndex, FaissHNSWIndex, FaissIVFIndex, HnswlibIndex)}


def load_index(folder: str | Path) -> VectorIndex | ItemIndex:
    """An index saved by any ``save`` here (an :class:`ItemIndex` comes back as one)."""
    folder = Path(folder)
    meta = json.loads((folder / META).read_text())
    if meta.get("kind") not in _KINDS:
        raise ValueError(f"{folder}: unknown index kind {meta.get('kind')!r}")
    index = _KINDS[meta["kind"]].load(folder, meta)
    if "item_index" not in meta:
        return index
    spec = meta["item_index"]
    item_index = ItemIndex(index.dim, threshold=spec["threshold"], backend=spec["backend"],
                           method=spec.get("method", "ivf"), **spec["params"])
    item_index.index = index
    return item_index


def build_index(vectors: np.ndarray, labels: np.ndarray | None = None, *,
                threshold: int = ANN_THRESHOLD, backend: str = "auto", method: str = "ivf",
                **params) -> ItemIndex:
    """An :class:`ItemIndex` over ``vectors`` (exact or approximate by their number)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    index = ItemIndex(vectors.shape[1], threshold=threshold, backend=backend, method=method,
                      **params)
    if len(vectors):
        index.add(vectors, labels)
    return index
