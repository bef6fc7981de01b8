"""How strongly each event moves interest, and how fast interest forgets.

Weights: an event's weight is its type's weight times a value factor. For ratings the
factor maps the rating linearly so that ``rating_max`` counts 1 and ``rating_pivot``
counts 0, clipped below at ``min_rating_factor``. The default (pivot 1, floor 0.1) makes
low ratings count little: 5 stars 1.0, 3 stars 0.5, 1 star 0.1. A missing value (None from
the API, NaN from a file's blank cell or absent column) means no factor: the event counts
with its type's weight, so a rating-less log weighs its ratings alike. Setting
``rating_pivot=2`` and
``min_rating_factor=-0.5`` makes 1-star ratings push interest *away* from the item.
Other event types ignore ``value`` (often a price or a quantity, not a preference).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

DAY = 86_400.0

DEFAULT_TYPE_WEIGHTS: dict[str, float] = {
    "purchase": 3.0,
    "cart": 2.0,
    "like": 2.0,
    "rating": 1.0,
    "review": 1.0,
    "click": 1.0,
    "search": 0.75,
    "view": 0.5,
}


@dataclass
class InterestConfig:
    """Half-lives, event weights and bounds of the per-user interest state."""

    long_half_life_s: float = 365 * DAY
    short_half_life_s: float = 1 * DAY
    type_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TYPE_WEIGHTS))
    unknown_type_weight: float = 0.5
    rating_pivot: float = 1.0
    rating_max: float = 5.0
    min_rating_factor: float = 0.1
    text_weight: float = 1.0
    max_recent: int = 100
    max_clusters: int = 5
    cluster_spawn_similarity: float = 0.55
    cluster_window: int = 50

    def __post_init__(self) -> None:
        for name in ("long_half_life_s", "short_half_life_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"interest config field '{name}' must be > 0")
        if self.rating_max <= self.rating_pivot:
            raise ValueError("interest config: 'rating_max' must be above 'rating_pivot'")
        if self.max_recent < 1 or self.max_clusters < 1:
            raise ValueError("interest config: 'max_recent' and 'max_clusters' must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> InterestConfig:
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown interest config field(s) {unknown}; known: {sorted(known)}")
        return cls(**data)

    # -- weights -------------------------------------------------------------------
    def type_weight(self, event_type: str) -> float:
        return float(self.type_weights.get(str(event_type), self.unknown_type_weight))

    def event_weight(self, event_type: str, value: float | None) -> float:
        """Signed weight of one event (see module docstring)."""
        w = self.type_weight(event_type)
        if event_type == "rating" and value is not None and np.isfinite(value):
            w *= self.rating_factor(float(value))
        return w

    def rating_factor(self, value: float | np.ndarray) -> float | np.ndarray:
        scaled = (np.asarray(value, dtype=np.float64) - self.rating_pivot) / (
            self.rating_max - self.rating_pivot
        )
        out = np.clip(scaled, self.min_rating_factor, 1.0)
        return float(out) if np.ndim(out) == 0 else out

    def event_weights(self, event_types: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`event_weight` over arrays of types and values."""
        types = np.asarray(event_types, dtype=object)
        values = np.asarray(values, dtype=np.float64)
        uniq, inv = np.unique(types.astype(str), return_inverse=True)
        w = np.array([self.type_weight(t) for t in uniq], dtype=np.float64)[inv]
        is_rating = (types.astype(str) == "rating") & np.isfinite(values)
        if is_rating.any():
            w[is_rating] *= self.rating_factor(values[is_rating])
        return w

    # -- decay ---------------------------------------------------------------------
    def long_decay(self, dt: float | np.ndarray) -> float | np.ndarray:
        """Factor after ``dt`` seconds at the slow half-life (dt >= 0)."""
        return np.exp2(-np.asarray(dt, dtype=np.float64) / self.long_half_life_s)

    def short_decay(self, dt: float | np.ndarray) -> float | np.ndarray:
        return np.exp2(-np.asarray(dt, dtype=np.float64) / self.short_half_life_s)
