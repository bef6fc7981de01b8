"""User segments shared by every service process, versioned in the database.

Segments are k-means clusters of users' long-term interest
(:func:`driftrec.interest.segments.segment_users`: centred, PCA-reduced space; k by
silhouette among stable k). One segmentation is stored per version
(:mod:`driftrec.store.segmentations`) and every process serves the newest one, so all
processes agree on segment ids, labels and popular items.

Keeping it current, from any process's background thread:

- every ``max_age_s`` (10 minutes) the newest version is stale and one process (the one
  that wins the conditional insert of the next version) makes the next: a *follow* step
  (:meth:`Segmentation.follow`: each centroid moves halfway to the mean of the users now
  nearest to it; ids, k and space kept) recomputes sizes, profiles and segment popularity;
- every ``refit_s`` (a day), or when there is no usable version, it is a full *refit*
  (k chosen again) whose segments take the ids of the old segments they match (Hungarian
  matching on centroid cosine similarity), so "segment 3" keeps its meaning;
- new or moving users are placed online by :meth:`Segments.assign` (nearest centroid).

Each segment's profile (:func:`driftrec.interest.profiles.segment_profiles`) says what
distinguishes it from everybody (genres and title words by lift), shows exemplar items,
size and typical drift; its item counts over members' recent events are what "popular in
your segment" means. Sizes and drift of every version are kept (``segment_history``).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftrec.interest.profiles import segment_profiles
from driftrec.interest.segments import (
    DEFAULT_DIMS,
    DEFAULT_K_VALUES,
    Segmentation,
    Space,
    segment_users,
)
from driftrec.recommend.served_items import Catalogue
from driftrec.recommend.user_profile import item_topics, topics
from driftrec.store import Store
from driftrec.store import segmentations as stored
from driftrec.text.encoders import l2_normalise

log = logging.getLogger(__name__)

MIN_USERS = 8
#: Items per segment whose member counts are kept for "popular in your segment".
ITEM_COUNTS = 500
#: How far a follow step moves each centroid towards its members' mean.
FOLLOW_RATE = 0.5


@dataclass
class Segments:
    """One stored version: the segmentation, its profiles and per-segment item counts
    (``labels``, ``item_counts`` and ``profiles`` are keyed by segment id)."""

    segmentation: Segmentation
    labels: dict[int, str]
    item_counts: dict[int, dict[str, int]]
    profiles: dict[int, dict[str, Any]] = field(default_factory=dict)
    version: int = 0
    kind: str = "refit"
    built_at: float = field(default_factory=time.time)
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def ids(self) -> list[int]:
        return [int(i) for i in self.segmentation.ids]

    def users(self, segment: int) -> int:
        return int(self.profiles.get(segment, {}).get("users", 0))

    def assign(self, vector: np.ndarray | None) -> int:
        """Segment id of an interest vector (nearest centroid; -1 without interest)."""
        if vector is None or not np.any(vector) or not self.ids:
            return -1
        return int(self.segmentation.assign(np.asarray(vector)[None, :])[0])

    def describe(self, segment: int) -> dict[str, Any] | None:
        if segment < 0 or segment not in self.labels:
            return None
        return {"id": segment, "label": self.labels[segment], "users": self.users(segment)}

    def overview(self, catalogue: Catalogue, n_items: int = 5) -> list[dict[str, Any]]:
        total = max(sum(self.users(s) for s in self.ids), 1)
        out = []
        for s in self.ids:
            counts = self.item_counts.get(s, {})
            top = sorted(counts.items(), key=lambda x: (-x[1], x[0]))[:n_items]
            p = self.profiles.get(s, {})
            out.append({"id": s, "label": self.labels[s], "users": self.users(s),
                        "share": round(self.users(s) / total, 4),
                        "genres": [g["term"] for g in p.get("genres", [])],
                        "title_words": [w["term"] for w in p.get("title_words", [])],
                        "exemplars": [{"item_id": e["item_id"], "title": e["title"],
                                       "events": e["events"]} for e in p.get("exemplars", [])],
                        "drift": p.get("drift", {}).get("median"),
                        "top_items": [{"item_id": i, "title": catalogue.title(i), "count": c}
                                      for i, c in top]})
        return out

    # -- storage --------------------------------------------------------------------
    def arrays(self) -> dict[str, np.ndarray]:
        seg = self.segmentation
        out = {"centroids": seg.centroids.astype(np.float32), "ids": seg.ids,
               "interest_centroids": seg.interest_centroids.astype(np.float32)}
        if seg.space is not None:
            out["mean"], out["basis"] = seg.space.mean, seg.space.basis
        return out

    @classmethod
    def from_row(cls, row: stored.SegmentationRow) -> Segments:
        a = row.arrays
        space = Space(a["mean"], a["basis"]) if "basis" in a else None
        seg = Segmentation(a["centroids"], [], np.zeros(0, dtype=np.int64),
                           {int(k): float(v) for k, v in
                            row.stats.get("silhouette_by_k", {}).items()},
                           int(row.stats.get("seed", 0)), a["ids"], space,
                           a["interest_centroids"],
                           {int(k): dict(v) for k, v in row.stats.get("criteria", {}).items()})
        profiles = {int(p["id"]): p for p in row.profiles}
        return cls(seg, {i: str(p.get("label", f"segment {i}")) for i, p in profiles.items()},
                   {i: {str(k): int(v) for k, v in p.get("item_counts", {}).items()}
                    for i, p in profiles.items()},
                   profiles, row.version, row.kind, row.created_at, row.stats)


class SegmentIndex:
    """This process's copy of the newest stored segmentation; makes the next version when
    the newest is older than ``max_age_s`` (see module docstring)."""

    def __init__(self, store: Store, catalogue: Catalogue, *, max_age_s: float = 600.0,
                 refit_s: float = 86_400.0, max_users: int = 50_000, seed: int = 0,
                 check_s: float = 30.0, build_timeout_s: float = 900.0,
                 k_values: tuple[int, ...] = DEFAULT_K_VALUES) -> None:
        self.store = store
        self.catalogue = catalogue
        self.max_age_s = max_age_s
        self.refit_s = refit_s
        self.max_users = max_users
        self.seed = seed
        self.check_s = min(check_s, max_age_s)
        self.build_timeout_s = build_timeout_s
        self.k_values = k_values
        self.current: Segments | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._checked = 0.0
        self._loaded_once = False
        self._closed = False

    # -- serving --------------------------------------------------------------------
    def get(self) -> Segments | None:
        """The newest stored segments; checks for a newer version (and makes one when it
        is stale) in the background every ``check_s``."""
        if not self._loaded_once:
            self._loaded_once = True
            self._checked = time.time()
            self.load()
            self._background(self.refresh)
        elif time.time() - self._checked > self.check_s:
            self._checked = time.time()
            self._background(self.refresh)
        return self.current

    def load(self) -> Segments | None:
        """Read the newest stored version if it is newer than the one held."""
        try:
            version = stored.latest_version(self.store)
            if version is not None and (self.current is None
                                        or version != self.current.version):
                row = stored.load(self.store, version)
                if row is not None and int(row.arrays["centroids"].shape[1]) > 0:
                    self.current = Segments.from_row(row)
        except Exception:
            log.exception("loading the stored segments failed")
        return self.current

    def refresh(self) -> Segments | None:
        """Load the newest version; make the next one if it is stale and we win it."""
        self.load()
        try:
            self._make(force=False)
        except Exception:  # database unreachable: try again at the next check
            log.exception("making the next segmentation version failed")
        return self.current

    def rebuild(self, kind: str = "refit") -> Segments | None:
        """Make the next version now, whatever the age of the newest (admin, erasure)."""
        if not getattr(threading.current_thread(), "segment_worker", False):
            self.join()  # a background check of this process finishes first
        # (a background worker never waits: a chained worker may be waiting for it)
        self.load()
        self._make(force=True, kind=kind)
        return self.current

    def forget(self, user_key: str) -> None:
        """An erased user: the next version (made now, in the background) leaves them out
        of sizes, profiles and segment popularity."""
        self._background(self._rebuild_quietly, chain=True)

    def _rebuild_quietly(self) -> None:
        try:
            self.rebuild("follow")
        except Exception:
            log.exception("making the segmentation version after an erasure failed")

    def close(self, timeout: float = 30.0) -> None:
        """Start no more background work and wait for the running one."""
        self._closed = True
        self.join(timeout)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the background work running now (tests, shutdown)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def history(self, versions: int = 50) -> list[dict[str, Any]]:
        return stored.history(self.store, versions)

    def _background(self, work, chain: bool = False) -> None:
        """Run ``work`` in a thread; skipped while one runs, unless ``chain`` (then it runs
        after it)."""
        if self._closed:
            return
        running = self._thread
        if running is not None and running.is_alive():
            if not chain:
                return

            def after(first=running, then=work) -> None:
                first.join()
                then()

            work = after
        thread = threading.Thread(target=work, name="segments", daemon=True)
        thread.segment_worker = True  # type: ignore[attr-defined]
        self._thread = thread
        thread.start()

    # -- making versions ----------------------------------------------------------------
    def _make(self, *, force: bool, kind: str | None = None) -> None:
        if not self._lock.acquire(blocking=False):
            return
        try:
            version = stored.claim(self.store, stale_after_s=0.0 if force else self.max_age_s,
                                   build_timeout_s=self.build_timeout_s)
            if version is None:
                return
            try:
                built = self._build(version, kind)
            except Exception:
                log.exception("segment build failed")
                built = None
            if built is None:
                stored.abandon(self.store, version)
                return
            segs, history = built
            stored.publish(self.store, version, kind=segs.kind, k=segs.segmentation.k,
                           arrays=segs.arrays(), profiles=list(segs.profiles.values()),
                           stats=segs.stats, history=history)
            self.load()
        finally:
            self._lock.release()

    def _gather(self) -> tuple[list[str], np.ndarray, np.ndarray, list[list[str]]]:
        keys, vectors, drifts, recents = [], [], [], []
        dim = self.catalogue.dim
        for key, state in self.store.iter_states():
            if int(state.get("dim", -1)) != dim:
                continue
            v = np.asarray(state.get("long_sum", ()), dtype=np.float32)
            if not v.any():
                continue
            s = np.asarray(state.get("short_sum", ()), dtype=np.float32)
            drift = 1.0 - float(l2_normalise(v[None])[0] @ l2_normalise(s[None])[0]) \
                if s.shape == v.shape and s.any() else 0.0
            keys.append(key)
            vectors.append(v)
            drifts.append(drift)
            recents.append([r[0] for r in state.get("recent", []) if r and r[0] is not None])
            if len(keys) >= self.max_users:
                break
        x = np.stack(vectors) if vectors else np.zeros((0, dim), dtype=np.float32)
        return keys, x, np.asarray(drifts), recents

    def _build(self, version: int, kind: str | None
               ) -> tuple[Segments, list[dict[str, Any]]] | None:
        t0 = time.time()
        keys, x, drift, recents = self._gather()
        if len(keys) < MIN_USERS:
            log.info("segments: %d users with interest, need %d", len(keys), MIN_USERS)
            return None
        previous = self.current
        usable = previous is not None and previous.ids and \
            previous.segmentation.interest_centroids.shape[1] == x.shape[1]
        due = previous is None or time.time() - float(
            previous.stats.get("refit_at", previous.built_at)) > self.refit_s
        if kind is None:
            kind = "refit" if not usable or due else "follow"
        if kind == "follow" and usable:
            seg = previous.segmentation.follow(x, FOLLOW_RATE, user_ids=keys)
            refit_at = previous.stats.get("refit_at", previous.built_at)
        else:
            kind = "refit"
            unit = l2_normalise(x)
            distinct = len(np.unique(np.round(unit, 5), axis=0))
            k_values = [k for k in self.k_values if k < len(keys) // 2 and k < distinct]
            if not k_values:
                log.info("segments: too few distinct interests (%d) to segment", distinct)
                return None
            seg = segment_users(keys, x, k_values=k_values, seed=self.seed,
                                dims=DEFAULT_DIMS if len(keys) > 4 * DEFAULT_DIMS else None,
                                previous=previous.segmentation if usable else None,
                                next_id=previous.stats.get("next_id") if usable else None)
            refit_at = time.time()
        segs = self._describe(seg, recents, drift)
        segs.version, segs.kind = version, kind
        used = int(previous.stats.get("next_id", 0)) if previous is not None else 0
        segs.stats = {"users": len(keys), "seed": self.seed, "refit_at": refit_at,
                      "next_id": max(used, int(seg.ids.max(initial=-1)) + 1),
                      "matched_to": previous.version if usable else None,
                      "silhouette_by_k": {str(k): v for k, v in seg.silhouette_by_k.items()},
                      "criteria": {str(k): v for k, v in seg.criteria.items()},
                      "silhouette": seg.silhouette, "seconds": round(time.time() - t0, 3)}
        history = [{"segment_id": s, "users": int(p["users"]), "share": float(p["share"]),
                    "drift_median": p.get("drift", {}).get("median"), "label": p["label"]}
                   for s, p in segs.profiles.items()]
        log.info("segments: version %d (%s), %d users in %d segments", version, kind,
                 len(keys), seg.k)
        return segs, history

    def _describe(self, seg: Segmentation, recents: list[list[str]],
                  drift: np.ndarray) -> Segments:
        cat = self.catalogue
        used = {i for items in recents for i in items if i in cat.pos}
        rows = {i: cat.pos[i] for i in used if cat.has_vector[cat.pos[i]]}
        profiles = segment_profiles(
            seg, recents, topics={i: item_topics(cat.attributes[cat.pos[i]]) for i in used},
            titles={i: cat.title(i) for i in used},
            item_vectors={i: cat.vectors[r] for i, r in rows.items()}, drift=drift)
        counts: dict[int, dict[str, int]] = {}
        for sid in seg.ids.tolist():
            members = [items for label, items in zip(seg.labels.tolist(), recents, strict=True)
                       if label == sid]
            c: dict[str, int] = {}
            for items in members:
                for i in items:
                    c[i] = c.get(i, 0) + 1
            counts[sid] = dict(sorted(c.items(), key=lambda x: (-x[1], x[0]))[:ITEM_COUNTS])
        out: dict[int, dict[str, Any]] = {}
        for row, p in enumerate(profiles):
            sid = p["id"]
            if not p["genres"]:  # nothing distinguishes it: name it by its centroid
                words = topics(seg.interest_centroids[row], cat, 3)
                p["label"] = ", ".join(words) or p["label"]
            p["item_counts"] = counts[sid]
            out[sid] = p
        return Segments(seg, {s: p["label"] for s, p in out.items()}, counts, out)
