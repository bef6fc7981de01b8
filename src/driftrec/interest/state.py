"""One user's interest state and the single function that changes it: :func:`update`.

State vectors are kept as *decayed weighted sums* expressed at the state's clock (the
latest event time seen), with a matching decayed mass. A new event at time ``t``:

* ``t >= clock``: every sum and mass is multiplied by ``2^(-(t - clock) / half_life)``,
  the clock moves to ``t``, then the event's weighted vector is added;
* ``t < clock`` (it arrived late): the clock stays, and the event is added with its weight
  already decayed by its age, ``w * 2^(-(clock - t) / half_life)``.

Because exponential decay factors multiply, both cases give exactly the sum
``sum_i w_i * 2^(-(clock - t_i) / h) * x_i``: the long- and short-term vectors do not
depend on arrival order. An event equal to one in the recent window (same item, time and
type) is a redelivery and is ignored, so replaying a log is idempotent within that window.
Interest clusters are maintained online (nearest centroid, spawning a new one for a far
item); :func:`driftrec.interest.clusters.recluster` re-derives them from the recent items.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftrec.interest.config import InterestConfig


@dataclass(frozen=True)
class Event:
    """One user action as the interest state sees it."""

    user_id: str
    item_id: str | None
    timestamp: float
    event_type: str = "rating"
    value: float | None = None
    text: str | None = None

    def key(self) -> tuple[str, float, str]:
        return (str(self.item_id) if self.item_id is not None else f"text:{self.text}",
                float(self.timestamp), str(self.event_type))


@dataclass
class Cluster:
    """One of a user's distinct interests: a decayed weighted sum of its items' vectors."""

    total: np.ndarray
    mass: float
    items: list[str] = field(default_factory=list)
    label: str = ""

    @property
    def centroid(self) -> np.ndarray:
        n = np.linalg.norm(self.total)
        return self.total / n if n > 0 else self.total

    def to_dict(self, arrays: np.dtype | type | None = None) -> dict[str, Any]:
        total = self.total.tolist() if arrays is None else self.total.astype(arrays)
        return {"total": total, "mass": self.mass, "items": list(self.items),
                "label": self.label}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Cluster:
        return cls(np.array(d["total"], dtype=np.float64), float(d["mass"]),
                   list(d.get("items", [])), str(d.get("label", "")))


CLUSTER_ITEMS_KEPT = 10


@dataclass
class InterestState:
    """Everything known about one user's interest right now; plain data, JSON-ready."""

    user_id: str
    dim: int
    clock: float | None = None
    n_events: int = 0
    long_sum: np.ndarray = None  # type: ignore[assignment]
    long_mass: float = 0.0
    short_sum: np.ndarray = None  # type: ignore[assignment]
    short_mass: float = 0.0
    #: recent events ``[item_id, timestamp, event_type, text, weight]`` in time order, bounded.
    recent: list[list[Any]] = field(default_factory=list)
    clusters: list[Cluster] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.long_sum is None:
            self.long_sum = np.zeros(self.dim, dtype=np.float64)
        if self.short_sum is None:
            self.short_sum = np.zeros(self.dim, dtype=np.float64)

    # -- views ------------------------------------------------------------------------
    @property
    def long_term(self) -> np.ndarray:
        """Unit long-term interest vector (zeros when nothing positive is known)."""
        return _unit(self.long_sum)

    @property
    def short_term(self) -> np.ndarray:
        return _unit(self.short_sum)

    @property
    def drift(self) -> float:
        """``1 - cos(short, long)``: 0 when recent interest matches the long-run one."""
        a, b = self.short_term, self.long_term
        if not a.any() or not b.any():
            return 0.0
        return float(1.0 - np.clip(a @ b, -1.0, 1.0))

    @property
    def recent_items(self) -> list[str]:
        return [r[0] for r in self.recent if r[0] is not None]

    @property
    def liked_items(self) -> list[str]:
        """Recent items whose event pushed interest towards them (positive weight)."""
        return [r[0] for r in self.recent if r[0] is not None and r[4] > 0]

    # -- plain data -------------------------------------------------------------------
    def to_dict(self, arrays: np.dtype | type | None = None) -> dict[str, Any]:
        """The state as plain data: vectors as lists (JSON-ready), or with ``arrays`` as
        numpy arrays of that dtype (what the store writes in its binary format)."""
        def vec(x: np.ndarray) -> Any:
            return x.tolist() if arrays is None else x.astype(arrays)

        return {
            "user_id": self.user_id, "dim": self.dim, "clock": self.clock,
            "n_events": self.n_events,
            "long_sum": vec(self.long_sum), "long_mass": self.long_mass,
            "short_sum": vec(self.short_sum), "short_mass": self.short_mass,
            "recent": [list(r) for r in self.recent],
            "clusters": [c.to_dict(arrays) for c in self.clusters],
            "drift": self.drift,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InterestState:
        return cls(
            user_id=str(d["user_id"]), dim=int(d["dim"]), clock=d.get("clock"),
            n_events=int(d.get("n_events", 0)),
            long_sum=np.array(d["long_sum"], dtype=np.float64),
            long_mass=float(d["long_mass"]),
            short_sum=np.array(d["short_sum"], dtype=np.float64),
            short_mass=float(d["short_mass"]),
            recent=[_recent_row(r) for r in d.get("recent", [])],
            clusters=[Cluster.from_dict(c) for c in d.get("clusters", [])],
        )


def _recent_row(row: list[Any]) -> list[Any]:
    """A stored recent-event row, padded to ``[item_id, time, type, text, weight]``."""
    if len(row) == 5:
        return list(row)
    row = list(row)
    if len(row) < 3:
        raise ValueError(f"recent event row {row!r} needs at least item_id, time and type")
    if len(row) >= 5:
        return row[:5]
    return [*row, *([None] * (4 - len(row))), 1.0]


def _unit(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x)
    return (x / n) if n > 0 else np.zeros_like(x)


def new_state(user_id: str, dim: int) -> InterestState:
    return InterestState(user_id=str(user_id), dim=int(dim))


def update(
    state: InterestState,
    event: Event,
    item_vector: np.ndarray | None = None,
    text_vector: np.ndarray | None = None,
    config: InterestConfig | None = None,
) -> bool:
    """Apply one event in place in O(dim · clusters); returns False for a redelivered event.

    ``item_vector`` is the item's text embedding (``None`` for an event with no item, e.g.
    a bare search); ``text_vector`` is the embedding of the event's own text, if any.
    """
    cfg = config or InterestConfig()
    if item_vector is None and text_vector is None:
        raise ValueError(
            f"event for user {event.user_id!r} carries neither an item vector nor a text vector"
        )
    key = event.key()
    if _seen(state, key):
        return False
    t = float(event.timestamp)
    if state.clock is None:
        state.clock = t
    if t > state.clock:
        dl, ds = float(cfg.long_decay(t - state.clock)), float(cfg.short_decay(t - state.clock))
        state.long_sum *= dl
        state.long_mass *= dl
        state.short_sum *= ds
        state.short_mass *= ds
        for c in state.clusters:
            c.total *= dl
            c.mass *= dl
        _flush_negligible(state)
        state.clock = t
        age = 0.0
    else:
        age = state.clock - t
    fl, fs = float(cfg.long_decay(age)), float(cfg.short_decay(age))
    parts: list[tuple[np.ndarray, float]] = []
    if item_vector is not None:
        parts.append((np.asarray(item_vector, dtype=np.float64),
                      cfg.event_weight(event.event_type, event.value)))
    if text_vector is not None:
        parts.append((np.asarray(text_vector, dtype=np.float64),
                      cfg.text_weight * cfg.type_weight(event.event_type)))
    for vec, w in parts:
        if vec.shape != (state.dim,):
            raise ValueError(f"vector has shape {vec.shape}, the state expects ({state.dim},)")
        state.long_sum += (w * fl) * vec
        state.long_mass += abs(w) * fl
        state.short_sum += (w * fs) * vec
        state.short_mass += abs(w) * fs
        if w > 0:
            _assign_cluster(state, vec, w * fl, event.item_id, cfg)
    state.n_events += 1
    _remember(state, event, parts[0][1] if item_vector is not None else 0.0, cfg)
    return True


#: Decayed mass below which a sum is dropped: next to any real event (weight >= 1e-3) it
#: cannot change a single bit, and its subnormal floats make every later operation slow.
NEGLIGIBLE_MASS = 1e-250


def _flush_negligible(state: InterestState) -> None:
    if 0.0 < state.short_mass < NEGLIGIBLE_MASS:
        state.short_sum[:] = 0.0
        state.short_mass = 0.0
    if 0.0 < state.long_mass < NEGLIGIBLE_MASS:
        state.long_sum[:] = 0.0
        state.long_mass = 0.0
    for c in state.clusters:
        if 0.0 < c.mass < NEGLIGIBLE_MASS:
            c.total[:] = 0.0
            c.mass = 0.0


def _seen(state: InterestState, key: tuple[str, float, str]) -> bool:
    if not state.recent:
        return False
    i = bisect.bisect_left([r[1] for r in state.recent], key[1])
    while i < len(state.recent) and state.recent[i][1] == key[1]:
        r = state.recent[i]
        if (str(r[0]) if r[0] is not None else f"text:{r[3]}") == key[0] and r[2] == key[2]:
            return True
        i += 1
    return False


def _remember(state: InterestState, event: Event, weight: float, cfg: InterestConfig) -> None:
    row = [None if event.item_id is None else str(event.item_id), float(event.timestamp),
           str(event.event_type), event.text if event.item_id is None else None, float(weight)]
    times = [r[1] for r in state.recent]
    pos = bisect.bisect_right(times, row[1])
    if len(state.recent) >= cfg.max_recent and pos == 0:
        return  # older than everything kept: counted in the vectors, not "recent"
    state.recent.insert(pos, row)
    if len(state.recent) > cfg.max_recent:
        del state.recent[: len(state.recent) - cfg.max_recent]


def _assign_cluster(state: InterestState, vec: np.ndarray, w: float, item_id: str | None,
                    cfg: InterestConfig) -> None:
    """Online clustering: join the nearest interest, or start a new one for a far item."""
    unit = _unit(vec)
    if state.clusters:
        sims = np.array([c.centroid @ unit for c in state.clusters])
        best = int(np.argmax(sims))
        join = sims[best] >= cfg.cluster_spawn_similarity or \
            len(state.clusters) >= cfg.max_clusters
    else:
        join, best = False, -1
    if join:
        c = state.clusters[best]
        c.total += w * unit
        c.mass += w
    else:
        c = Cluster(total=w * unit, mass=w)
        state.clusters.append(c)
    if item_id is not None:
        c.items = [*c.items, str(item_id)][-CLUSTER_ITEMS_KEPT:]
