"""What each dashboard page shows, computed from the service core (no HTML here).

Everything is read through the core's public parts (store, catalogue, engine, models,
encoder) and :mod:`driftrec.web.queries`; nothing is written. Pages show titles and
readable times, never stored ids: item ids only travel inside links.

A user page replays the user's stored events with the live interest update's weights and
half-lives (the served model's interest config) to draw where interest went; the replay is
kept per user revision, so a second look at an unchanged user costs nothing.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from driftrec.models.bundle import BUNDLE_FILE
from driftrec.recommend.served_items import Catalogue
from driftrec.recommend.user_profile import build_profile, item_topics
from driftrec.service.core import ServiceCore
from driftrec.service.middleware import Metrics
from driftrec.store import StoredEvent
from driftrec.web import charts, queries

log = logging.getLogger(__name__)

MAX_REPLAY = 5000  #: most recent events a user page replays
# What a chart draws is bounded, so that a browser draws a page in well under a second
# whatever the user's history or the catalogue's size (SVG costs per point).
MAX_PATH_POINTS = 250  #: interest-path and drift points (evenly sampled, the last one kept)
MAX_EVENT_POINTS = 300  #: event markers drawn on the map (the most recent)
MAX_BACKGROUND = 1500  #: catalogue items drawn behind the path (evenly sampled)
MAX_SHARE_POINTS = 200
SHARE_WINDOW = 25  #: events a topic share is taken over
MAX_SHARE_TOPICS = 8
RECENT_EVENTS = 20
RECOMMENDATIONS = 10
REPLAY_CACHE = 64
DAY = 86_400


# -- small helpers ---------------------------------------------------------------------------
def item_url(item_id: str) -> str:
    return "/dashboard/items/" + quote(item_id, safe="")


def user_url(user_id: str) -> str:
    return "/dashboard/users/" + quote(user_id, safe="")


def display_title(catalogue: Catalogue, item_id: str) -> str | None:
    """The item's title; ``"untitled item"`` for one without; None when not in the
    catalogue (never the raw id)."""
    i = catalogue.pos.get(item_id)
    if i is None:
        return None
    title = catalogue.titles[i]
    return title if title and title != item_id else "untitled item"


def when(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(int(ts), timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def sample_indices(n: int, most: int) -> np.ndarray:
    """At most ``most`` evenly spread indices of ``range(n)``, first and last included."""
    if n <= most:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, most).round().astype(np.int64))


def _project(vectors: np.ndarray, mean: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """2-D coordinates of ``vectors``; NaN for all-zero rows (no interest yet)."""
    xy = (vectors - mean) @ axes.T
    xy[~np.abs(vectors).sum(axis=1).astype(bool)] = np.nan
    return xy


def _event_label(catalogue: Catalogue, ev: StoredEvent) -> str:
    title = display_title(catalogue, ev.item_id)
    if title is not None:
        return title
    if ev.text:
        return f"“{ev.text[:80]}”"
    return "an item not in the catalogue"


# -- a user's interest over time ---------------------------------------------------------------
@dataclass
class Replay:
    """One point per replayed event."""

    events: list[StoredEvent]
    long_xy: np.ndarray
    short_xy: np.ndarray
    drift: np.ndarray
    event_xy: np.ndarray
    share_topics: list[str]
    shares: np.ndarray  # (events, topics): weight of each topic in the window, not normalised

    @property
    def times(self) -> np.ndarray:
        return np.array([e.timestamp for e in self.events], dtype=np.int64)


def replay(core: ServiceCore, events: list[StoredEvent]) -> Replay:
    """Long- and short-term interest after each of ``events`` (in time order), from zero.

    This is the decayed, event-weighted sum :func:`driftrec.interest.state.update` keeps
    (same config: weights, half-lives, text weight; a redelivered event counts once),
    without the clusters and recent-event bookkeeping a picture does not need: about 50
    times cheaper, so a user with thousands of events draws in milliseconds. Replaying all
    of a user's events ends where the stored state is (the tests check it).
    """
    cat = core.catalogue
    config = core.interest_config
    texts = sorted({e.text for e in events if e.text})
    text_vecs = dict(zip(texts, core.encoder.encode(texts), strict=True)) if texts else {}
    n, dim = len(events), cat.dim
    long_v = np.zeros((n, dim), dtype=np.float32)
    short_v = np.zeros((n, dim), dtype=np.float32)
    event_v = np.zeros((n, dim), dtype=np.float32)
    drift = np.zeros(n)
    long_sum, short_sum = np.zeros(dim), np.zeros(dim)
    mass = np.zeros(2)  # total |weight| in each sum: bounds its norm
    clock: float | None = None
    applied: set[tuple[str, float, str]] = set()
    for j, ev in enumerate(events):
        item_vec = cat.vector(ev.item_id)
        text_vec = text_vecs.get(ev.text) if ev.text else None
        shown = item_vec if item_vec is not None else text_vec
        if shown is not None:
            event_v[j] = shown
        key = (ev.item_id, float(ev.timestamp), ev.event_type)
        if shown is not None and key not in applied:
            applied.add(key)
            t = float(ev.timestamp)
            if clock is not None and t > clock:
                mass *= (dl := float(config.long_decay(t - clock)),
                         ds := float(config.short_decay(t - clock)))
                long_sum *= dl
                short_sum *= ds
                # a sum whose mass fell below 1e-12 cannot move the unit vector any more:
                # dropping it keeps the arithmetic out of subnormal floats (~100x slower)
                for k, total in enumerate((long_sum, short_sum)):
                    if mass[k] < 1e-12:
                        total[:] = 0.0
                        mass[k] = 0.0
            clock = t if clock is None else max(clock, t)
            age = clock - t
            fl, fs = float(config.long_decay(age)), float(config.short_decay(age))
            parts = []
            if item_vec is not None:
                parts.append((item_vec, config.event_weight(ev.event_type, ev.value)))
            if text_vec is not None:
                parts.append((text_vec, config.text_weight * config.type_weight(ev.event_type)))
            for vec, w in parts:
                long_sum += (w * fl) * vec
                short_sum += (w * fs) * vec
                mass += (abs(w) * fl, abs(w) * fs)
        long_v[j], short_v[j] = _unit(long_sum), _unit(short_sum)
        if long_v[j].any() and short_v[j].any():
            drift[j] = 1.0 - float(np.clip(long_v[j] @ short_v[j], -1.0, 1.0))
    mean, axes = core_axes(core)
    share_topics, shares = _topic_windows(cat, events, config)
    return Replay(events, _project(long_v, mean, axes), _project(short_v, mean, axes), drift,
                  _project(event_v, mean, axes), share_topics, shares)


def _unit(x: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(x))
    return x / norm if norm > 0 else np.zeros_like(x)


_AXES: dict[int, tuple[tuple, np.ndarray, np.ndarray]] = {}


def core_axes(core: ServiceCore) -> tuple[np.ndarray, np.ndarray]:
    """The catalogue's two principal directions (mean, axes), as
    :class:`driftrec.recommend.user_profile.Projection` finds them, but from the eigenvectors of
    the ``dim x dim`` covariance rather than an SVD of every item vector, which is much
    cheaper for large catalogues; cached per catalogue version."""
    cat = core.catalogue
    key = (cat.seq, len(cat))
    found = _AXES.get(id(core))
    if found is not None and found[0] == key:
        return found[1], found[2]
    x = cat.vectors[cat.has_vector].astype(np.float64)
    if len(x) >= 2:
        mean = x.mean(axis=0)
        centred = x - mean
        _, vecs = np.linalg.eigh(centred.T @ centred)
        axes = vecs[:, ::-1][:, :2].T.copy()
        # a fixed orientation: the largest component of each axis is positive
        signs = np.sign(axes[np.arange(2), np.abs(axes).argmax(axis=1)])
        axes *= signs[:, None]
    else:
        mean, axes = np.zeros(cat.dim), np.eye(2, cat.dim)
    _AXES[id(core)] = (key, mean, axes)
    return mean, axes


def _topic_windows(cat: Catalogue, events: list[StoredEvent], config) -> tuple[list[str],
                                                                             np.ndarray]:
    """Each topic's weight among the last ``SHARE_WINDOW`` events at every event (an
    event's positive weight split over its item's topics); the top topics, then "other"."""
    per_event: list[list[str]] = []
    weights = np.zeros(len(events))
    cache: dict[str, list[str]] = {}
    totals: Counter[str] = Counter()
    for j, ev in enumerate(events):
        found = cache.get(ev.item_id)
        if found is None:
            i = cat.pos.get(ev.item_id)
            found = item_topics(cat.attributes[i]) if i is not None else []
            cache[ev.item_id] = found
        per_event.append(found)
        weights[j] = max(config.event_weight(ev.event_type, ev.value), 0.0)
        for word in found:
            totals[word] += weights[j] / len(found)
    top = [w for w, _ in totals.most_common(MAX_SHARE_TOPICS)]
    if not top:
        return [], np.zeros((len(events), 0))
    column = {w: k for k, w in enumerate(top)}
    names = [*top, "other"] if len(totals) > len(top) else top
    contrib = np.zeros((len(events), len(names)))
    for j, found in enumerate(per_event):
        for word in found:
            contrib[j, column.get(word, len(top))] += weights[j] / len(found)
    cum = np.cumsum(contrib, axis=0)
    window = cum.copy()
    window[SHARE_WINDOW:] -= cum[:-SHARE_WINDOW]
    return names, window


class Views:
    """Page builders of one app, with the caches they keep (catalogue map, replays)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._replays: OrderedDict[tuple, Replay] = OrderedDict()
        self._background: tuple[tuple, dict[str, Any]] | None = None
        self._bundles: dict[tuple, dict[str, Any]] = {}

    # -- shared pieces -----------------------------------------------------------------------
    def warm(self, core: ServiceCore) -> None:
        """Compute what every user page shares (the text map of the catalogue, the
        engine's popularity counts) ahead of the first user page."""
        try:
            self.background(core)
            core.engine.popularity()
        except Exception as exc:  # a warm-up must never take the service down
            log.warning("dashboard warm-up failed: %s", exc)

    def background(self, core: ServiceCore) -> dict[str, Any]:
        """The catalogue's items in the 2-D text map (sampled), cached per catalogue."""
        cat = core.catalogue
        key = (id(cat), cat.seq, len(cat))
        cached = self._background
        if cached is not None and cached[0] == key:
            return cached[1]
        mean, axes = core_axes(core)
        rows = np.flatnonzero(cat.has_vector & ~cat.hidden)
        rows = rows[sample_indices(len(rows), MAX_BACKGROUND)]
        xy = (cat.vectors[rows] - mean) @ axes.T if len(rows) else np.zeros((0, 2))
        data = {"x": xy[:, 0], "y": xy[:, 1],
                "text": np.array([display_title(cat, cat.ids[r]) for r in rows], dtype=object),
                "url": np.array([item_url(cat.ids[r]) for r in rows], dtype=object)}
        self._background = (key, data)
        return data

    def _replay(self, core: ServiceCore, user_key: str, revision: str | None) -> Replay:
        key = (id(core), user_key, revision, core.catalogue.seq, len(core.catalogue),
               core.model_version)
        with self._lock:
            found = self._replays.get(key)
            if found is not None:
                self._replays.move_to_end(key)
                return found
        result = replay(core, core.store.user_events(user_key, limit=MAX_REPLAY))
        if revision is not None:
            with self._lock:
                self._replays[key] = result
                while len(self._replays) > REPLAY_CACHE:
                    self._replays.popitem(last=False)
        return result

    def bundle_info(self, path: str | None) -> dict[str, Any]:
        """``bundle.json`` of the served model (what it was trained on, and any offline
        metrics it records), cached by file modification time."""
        if not path:
            return {}
        file = Path(path) / BUNDLE_FILE
        try:
            stamp = (str(file), file.stat().st_mtime_ns)
        except OSError:
            return {}
        if stamp not in self._bundles:
            try:
                self._bundles[stamp] = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self._bundles[stamp] = {}
        return self._bundles[stamp]

    # -- overview ----------------------------------------------------------------------------
    def overview(self, core: ServiceCore, metrics: Metrics | None) -> dict[str, Any]:
        store, cat = core.store, core.catalogue
        out: dict[str, Any] = {
            "n_users": queries.count_users(store), "n_items": len(cat),
            "n_hidden": int(cat.hidden.sum()), "n_events": store.count_events(),
            "model_version": core.model_version, "charts": {}}
        latest = queries.latest_event_ts(store)
        if latest is not None:
            start = (latest - DAY) // 60 * 60 + 60
            rows = queries.event_counts(store, 60, since_ts=start)
            minutes = np.arange(start, latest // 60 * 60 + 60, 60, dtype=np.int64)
            counts: dict[str, np.ndarray] = {}
            for t0, event_type, c in rows:
                arr = counts.setdefault(event_type, np.zeros(len(minutes), dtype=np.int64))
                arr[(t0 - start) // 60] += c
            out["last_day"] = {"from": when(start), "to": when(latest),
                               "events": int(sum(c.sum() for c in counts.values()))}
            out["charts"]["per_minute"] = charts.embed(charts.events_per_minute(minutes, counts))
        out["model"] = self._model(core)
        if out["model"] and out["model"]["metrics"]:
            out["charts"]["metrics"] = charts.embed(charts.metric_bars(out["model"]["metrics"]))
        if out["model"] and out["model"]["weights"]:
            out["charts"]["weights"] = charts.embed(
                charts.weight_bars(out["model"]["weights"], "weight per standard deviation"))
        if metrics is not None:
            service = service_stats(metrics, time.time() - core.started_at)
            out["service"] = service
            if service["routes"]:
                r = service["routes"]
                out["charts"]["latency"] = charts.embed(charts.latency_bars(
                    [x["route"] for x in r], [x["p50_ms"] for x in r],
                    [x["p95_ms"] for x in r], [x["per_s"] for x in r]))
        segs = core.segments.get()
        out["segments"] = segs.overview(cat, 3) if segs is not None else []
        return out

    def _model(self, core: ServiceCore) -> dict[str, Any] | None:
        loaded = core.models.current
        if loaded is None:
            return None
        info = self.bundle_info(loaded.path)
        recorded = info.get("metrics") if isinstance(info.get("metrics"), dict) else {}
        metrics = {str(k): float(v) for k, v in {**info, **recorded}.items()
                   if ("@" in str(k) or k in recorded) and isinstance(v, (int, float))
                   and not isinstance(v, bool)}
        weights: dict[str, float] = {}
        if loaded.name == "fused" and hasattr(loaded.model, "weights"):
            try:
                weights = {str(k): float(v) for k, v in loaded.model.weights().items()}
            except Exception as exc:  # a model without learned weights yet
                log.info("fusion weights unavailable: %s", exc)
        training = {k: info[k] for k in ("dataset", "users", "items", "events", "created",
                                         "fit_seconds", "peak_rss_mb") if k in info}
        return {"version": loaded.version, "name": loaded.name, "source": loaded.source,
                "n_items": len(loaded.item_pos), "training": training, "metrics": metrics,
                "weights": weights}

    # -- user --------------------------------------------------------------------------------
    def user(self, core: ServiceCore, user_id: str, diversity: float) -> dict[str, Any] | None:
        """Everything the user page shows; None when nothing is stored for ``user_id``."""
        store, cat, engine = core.store, core.catalogue, core.engine
        key = store.user_key(user_id)
        ctx = engine.user_context(key)
        if ctx.n_events == 0 and not ctx.events:
            return None
        segs, seg_id = engine.segment_of(ctx)
        segment = segs.describe(seg_id) if segs is not None else None
        profile = build_profile(ctx.state, ctx.n_events, cat, segment)
        rep = self._replay(core, key, getattr(ctx, "revision", None))
        recs = engine.recommend(key, RECOMMENDATIONS, exclude_seen=True, diversity=diversity,
                                explain=True)
        out: dict[str, Any] = {
            "profile": profile, "n_replayed": len(rep.events),
            "last_event": when(profile["last_event_at"]),
            "recs": [{"title": display_title(cat, r.item_id) or r.title, "url": item_url(r.item_id),
                      "item_id": r.item_id, "score": r.score, "source": r.source,
                      "reasons": r.reasons} for r in recs],
            "recent": [{"when": when(e.timestamp), "event_type": e.event_type,
                        "value": e.value, "label": _event_label(cat, e),
                        "url": item_url(e.item_id) if e.item_id in cat.pos else None}
                       for e in rep.events[-RECENT_EVENTS:][::-1]],
            "charts": {}}
        if rep.events:
            out["charts"].update(self._user_charts(core, rep))
        if profile["clusters"]:
            out["charts"]["clusters"] = charts.embed(charts.cluster_bars(
                [c["label"] for c in profile["clusters"]],
                [c["weight"] for c in profile["clusters"]]))
        return out

    def _user_charts(self, core: ServiceCore, rep: Replay) -> dict[str, Any]:
        cat = core.catalogue
        times = rep.times
        path = sample_indices(len(times), MAX_PATH_POINTS)
        recent = np.arange(max(0, len(times) - MAX_EVENT_POINTS), len(times))
        recent = recent[np.isfinite(rep.event_xy[recent, 0])]
        by_type: dict[str, dict[str, list]] = {}
        for j in recent:
            ev = rep.events[j]
            pts = by_type.setdefault(ev.event_type, {"x": [], "y": [], "text": [], "when": [],
                                                     "url": []})
            pts["x"].append(float(rep.event_xy[j, 0]))
            pts["y"].append(float(rep.event_xy[j, 1]))
            pts["text"].append(_event_label(cat, ev))
            pts["when"].append(when(ev.timestamp))
            pts["url"].append(item_url(ev.item_id) if ev.item_id in cat.pos else "")
        out = {
            "trajectory": charts.embed(charts.trajectory_map(
                self.background(core), times[path], rep.long_xy[path], rep.short_xy[path],
                by_type)),
            "drift": charts.embed(charts.drift_line(times[path], rep.drift[path])),
        }
        if rep.share_topics:
            idx = sample_indices(len(times), MAX_SHARE_POINTS)
            out["shares"] = charts.embed(charts.topic_shares(
                times[idx], {t: rep.shares[idx, k] for k, t in enumerate(rep.share_topics)}))
        return out

    # -- segments ----------------------------------------------------------------------------
    def segments(self, core: ServiceCore) -> dict[str, Any] | None:
        segs = core.segments.get()
        if segs is None:
            return None
        cat = core.catalogue
        rows = segs.overview(cat, 8)
        drift: dict[int, np.ndarray] = {}
        for row in rows:
            prof = segs.profiles.get(row["id"], {})
            row["profile"] = row["genres"][:6] or row["title_words"][:6]
            row["top_items"] = [{"title": display_title(cat, i["item_id"]) or "",
                                 "url": item_url(i["item_id"]), "count": i["count"]}
                                for i in row["top_items"]]
            row["exemplars"] = [{"title": display_title(cat, e["item_id"]) or e["title"],
                                 "url": item_url(e["item_id"]), "count": e["events"]}
                                for e in row["exemplars"]]
            row["drift_median"] = row["drift"]
            drift[row["id"]] = np.asarray(prof.get("drift", {}).get("sample", []), dtype=float)
        labels = [f"{r['id']}: {r['label']}" for r in rows]
        history = core.segments.history()
        out = {"rows": rows, "built": when(segs.built_at), "version": segs.version,
               "kind": segs.kind, "silhouette": segs.segmentation.silhouette,
               "charts": {
                   "sizes": charts.embed(charts.segment_sizes(labels, [r["users"] for r in rows])),
                   "drift": charts.embed(charts.drift_boxes(
                       {label: drift.get(r["id"], np.zeros(0))
                        for label, r in zip(labels, rows, strict=True)}))}}
        if len({h["version"] for h in history}) > 1:
            series: dict[str, tuple[list[int], list[int]]] = {}
            for h in history:
                xs, ys = series.setdefault(f"{h['segment_id']}", ([], []))
                xs.append(int(h["version"]))
                ys.append(int(h["users"]))
            names = {str(r["id"]): f"{r['id']}: {r['label']}" for r in rows}
            out["charts"]["history"] = charts.embed(charts.segment_history(
                {names.get(k, f"{k} (retired)"): v for k, v in series.items()}))
        return out

    # -- items -------------------------------------------------------------------------------
    def item(self, core: ServiceCore, item_id: str) -> dict[str, Any] | None:
        record = core.store.get_item(item_id)
        if record is None:
            return None
        cat, engine = core.catalogue, core.engine
        n_events, n_users = queries.item_event_summary(core.store, item_id)
        attributes = [(k, ", ".join(item_topics({k: v})) or
                       (", ".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)))
                      for k, v in record.attributes.items() if v not in (None, "", [])]
        out: dict[str, Any] = {
            "title": record.title or "untitled item", "text": record.text,
            "attributes": attributes, "hidden": record.hidden, "n_events": n_events,
            "n_users": n_users, "popularity": engine.popularity().get(item_id, 0),
            "updated": when(record.updated_at), "charts": {}, "segments": []}
        daily = queries.event_counts(core.store, DAY, item_id=item_id)
        if daily:
            out["charts"]["popularity"], out["unit"] = _popularity_chart(daily)
        similar = engine.similar(item_id, 10)
        out["similar"] = [{"title": display_title(cat, r.item_id) or r.title,
                           "url": item_url(r.item_id), "score": r.score} for r in similar]
        if similar:
            out["charts"]["similar"] = charts.embed(charts.similarity_bars(
                [s["title"] for s in out["similar"]], [s["score"] for s in out["similar"]],
                [s["url"] for s in out["similar"]]))
        segs = core.segments.get()
        vec = cat.vector(item_id)
        if segs is not None:
            seg = segs.segmentation
            for row, s in enumerate(segs.ids):
                count = int(segs.item_counts.get(s, {}).get(item_id, 0))
                affinity = (float(seg.interest_centroids[row] @ vec) if vec is not None
                            else None)
                out["segments"].append({"id": s, "label": segs.labels[s],
                                        "users": segs.users(s), "count": count,
                                        "affinity": affinity})
            out["segments"].sort(key=lambda r: (-r["count"], -(r["affinity"] or 0.0)))
        return out

    # -- search ------------------------------------------------------------------------------
    def search(self, core: ServiceCore, q: str) -> dict[str, Any]:
        q = q.strip()
        out: dict[str, Any] = {"q": q, "user": None, "items": [], "recs": []}
        if not q:
            return out
        if core.store.user_revision(core.store.user_key(q)) is not None:
            out["user"] = {"user_id": q, "url": user_url(q)}
        out["items"] = find_items(core, q)
        vec = core.encode_query(q)
        recs = core.engine.recommend("", RECOMMENDATIONS, exclude_seen=False, query=q,
                                     query_vec=vec, explain=True)
        out["recs"] = [{"title": display_title(core.catalogue, r.item_id) or r.title,
                        "url": item_url(r.item_id), "score": r.score, "reasons": r.reasons}
                       for r in recs]
        return out


def find_items(core: ServiceCore, q: str, limit: int = 20) -> list[dict[str, Any]]:
    """Visible items whose title holds every word of ``q`` (case-insensitive substrings,
    so a Chinese query needs no spaces), most popular first."""
    cat = core.catalogue
    words = [w.casefold() for w in q.split() if w]
    if not words:
        return []
    hits = [i for i, title in enumerate(cat.titles)
            if not cat.hidden[i] and all(w in title.casefold() for w in words)]
    pop = core.engine.popularity()
    hits.sort(key=lambda i: (-pop.get(cat.ids[i], 0), cat.titles[i]))
    return [{"title": display_title(cat, cat.ids[i]), "url": item_url(cat.ids[i]),
             "events": pop.get(cat.ids[i], 0)} for i in hits[:limit]]


def _popularity_chart(daily: Sequence[tuple[int, str, int]]) -> tuple[Any, str]:
    """Events per day, week or month (by the span), stacked by event type."""
    first, last = daily[0][0], daily[-1][0]
    span = last - first
    step, unit = ((DAY, "day") if span <= 120 * DAY else
                  (7 * DAY, "week") if span <= 3 * 365 * DAY else (30 * DAY, "30 days"))
    start = first // step * step
    buckets = np.arange(start, last // step * step + step, step, dtype=np.int64)
    counts: dict[str, np.ndarray] = {}
    for t0, event_type, c in daily:
        arr = counts.setdefault(event_type, np.zeros(len(buckets), dtype=np.int64))
        arr[(t0 - start) // step] += c
    return charts.embed(charts.popularity_over_time(buckets, counts, unit)), unit


def service_stats(metrics: Metrics, uptime_s: float, top: int = 12) -> dict[str, Any]:
    """Requests, rate and latency per route from the service's own Prometheus metrics."""
    hist: dict[tuple[str, str], dict[str, Any]] = {}
    for family in metrics.latency.collect():
        for s in family.samples:
            route = (s.labels.get("method", ""), s.labels.get("route", ""))
            h = hist.setdefault(route, {"buckets": [], "count": 0.0, "sum": 0.0})
            if s.name.endswith("_bucket"):
                h["buckets"].append((float(s.labels["le"]), float(s.value)))
            elif s.name.endswith("_count"):
                h["count"] = float(s.value)
            elif s.name.endswith("_sum"):
                h["sum"] = float(s.value)
    errors = total = 0.0
    for family in metrics.requests.collect():
        for s in family.samples:
            if s.name.endswith("_total"):
                total += s.value
                if s.labels.get("status", "").startswith("5"):
                    errors += s.value
    uptime_s = max(uptime_s, 1e-9)
    routes = []
    for (method, route), h in hist.items():
        if not h["count"] or route.startswith("/dashboard/static"):
            continue
        buckets = sorted(h["buckets"])
        routes.append({"route": f"{method} {route}", "count": int(h["count"]),
                       "per_s": h["count"] / uptime_s,
                       "mean_ms": 1000 * h["sum"] / h["count"],
                       "p50_ms": 1000 * _quantile(buckets, 0.5),
                       "p95_ms": 1000 * _quantile(buckets, 0.95)})
    routes.sort(key=lambda r: -r["count"])
    return {"requests": int(total), "errors": int(errors), "per_s": total / uptime_s,
            "uptime": _duration(uptime_s), "routes": routes[:top]}


def _quantile(buckets: list[tuple[float, float]], q: float) -> float:
    """Prometheus' ``histogram_quantile``: linear inside the bucket the rank falls in."""
    if not buckets or buckets[-1][1] <= 0:
        return 0.0
    rank = q * buckets[-1][1]
    lower_le, lower_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if le == float("inf"):
                return lower_le
            if count == lower_count:
                return le
            return lower_le + (le - lower_le) * (rank - lower_count) / (count - lower_count)
        lower_le, lower_count = le, count
    return lower_le


def _duration(seconds: float) -> str:
    minutes, s = divmod(int(seconds), 60)
    hours, m = divmod(minutes, 60)
    days, h = divmod(hours, 24)
    if days:
        return f"{days} d {h} h"
    if hours:
        return f"{h} h {m} min"
    return f"{m} min {s} s" if minutes else f"{s} s"
