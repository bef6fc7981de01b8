"""The serving pipeline: one user context -> scores -> filters -> diversity -> reasons.

One rule decides the order (documented in ``docs/service.md``):

* **The model places the user** (it scores the user's stored history and not every item
  alike): the list is the model's own ranking, exactly what ``driftrec recommend`` and the
  offline evaluation give for the same history. Items added after the model was loaded
  take the model score found at their rank by content similarity (``_model_ranking``).
  The fused model's log-odds are shown as ``sigmoid`` = P(relevant).
* **It cannot** (no model, or a user with no history it knows): content similarity to the
  user's live interest (``new_item_weight * cosine``), with the items popular in the user's
  segment competing (source ``segment``), over the popularity prior
  (``0.5 * log(1 + events) / max``, source ``popularity``) for everyone else.

Text similarity is exact below ``ann_threshold`` catalogue items and retrieved from an
approximate index past it (:mod:`driftrec.recommend.text_retrieval`). Hidden items are
never returned, seen items only when asked. With ``diversity > 0`` the top
candidates are re-ranked by MMR over item text vectors. Each item says which signal put it
there (``source``) and, when asked, why in words (``reasons``).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit

from driftrec.data.dataset import Histories
from driftrec.feedback.explore import Explorer
from driftrec.feedback.update import Weights
from driftrec.interest import clusters
from driftrec.recommend import reasons as why
from driftrec.recommend.ann import ANN_THRESHOLD
from driftrec.recommend.batching import ScoringQueue
from driftrec.recommend.context import UNREAD, ContextCache, Unread, UserContext, empty_context
from driftrec.recommend.diversity import mmr
from driftrec.recommend.models import LoadedModel, ModelHolder
from driftrec.recommend.scores import ModelScores, model_scores
from driftrec.recommend.segment_index import SegmentIndex, Segments
from driftrec.recommend.served_items import Catalogue
from driftrec.recommend.text_retrieval import TextRetrieval
from driftrec.store import Store, StoredEvent

log = logging.getLogger(__name__)

POPULARITY_WEIGHT = 0.5
#: What put an item on a list (``source``), as small codes while scoring the catalogue.
SOURCE_NAMES = ("popularity", "query", "content", "segment", "model", "explore")
POPULARITY, QUERY, CONTENT, SEGMENT, MODEL, EXPLORE = range(len(SOURCE_NAMES))
#: Seconds between full recounts of item popularity (in between, only new events count).
POPULARITY_RECOUNT_S = 3600.0
#: Models whose scores are log-odds; the served ``score`` is then ``sigmoid`` of it.
PROBABILITY_MODELS = ("fused",)
QUERY_USER_WEIGHT = 0.25
REASON_HISTORY = 30
#: Past the retrieval threshold, new items are placed on the model's scale against the
#: similarities of this many known items (evenly spaced rows) instead of all of them.
QUANTILE_REFERENCE_ITEMS = 4096


@dataclass
class Recommendation:
    item_id: str
    score: float
    source: str
    title: str
    reasons: list[str] = field(default_factory=list)
    #: The standardised signals the fused model scored this item on (what an impression
    #: records for the feedback loop); None for items another rule placed.
    features: np.ndarray | None = None


@dataclass
class OnlineWeights:
    """The active weights version learned online, for one model version."""

    model_version: str
    version: int
    weights: Weights


@dataclass
class _Universe:
    """Every recommendable item id: the catalogue's, then model-only ones."""

    key: tuple
    ids: np.ndarray
    pos: dict[str, int]
    model_col: np.ndarray
    cat_row: np.ndarray
    vectors: np.ndarray
    has_vector: np.ndarray
    hidden: np.ndarray


def model_history(loaded: LoadedModel, events: list[StoredEvent], user_row: int = -1
                  ) -> Histories:
    """A user's stored events as the one-row history the model scores (items it knows);
    ``user_row`` is the user's row in the model's training users (-1: not one of them)."""
    known = [e for e in events if e.item_id in loaded.item_pos]
    return Histories(
        users=np.array([user_row], dtype=np.int64),
        items=[np.array([loaded.item_pos[e.item_id] for e in known], dtype=np.int64)],
        timestamps=[np.array([e.timestamp for e in known], dtype=np.int64)],
        values=[np.array([np.nan if e.value is None else e.value for e in known],
                         dtype=np.float32)],
        event_types=[np.array([e.event_type for e in known], dtype=object)],
    )


def count_array(u: _Universe, counts: dict[str, int]) -> np.ndarray:
    """``log(1 + count)`` per universe item."""
    out = np.zeros(len(u.ids))
    for item, c in counts.items():
        i = u.pos.get(item)
        if i is not None:
            out[i] = np.log1p(c)
    return out


class RecommendationEngine:
    """Answers recommendation, similar-item and free-text queries for one service process."""

    def __init__(self, store: Store, catalogue: Catalogue, models: ModelHolder, *,
                 history_length: int = 10_000, new_item_weight: float = 0.8,
                 popularity_ttl_s: float = 10.0,
                 segments: SegmentIndex | None = None, context_cache_users: int = 4096,
                 ann_threshold: int = ANN_THRESHOLD, scoring_thread: bool = True) -> None:
        self.store = store
        self.catalogue = catalogue
        self.models = models
        self.history_length = history_length
        self.new_item_weight = new_item_weight
        self.popularity_ttl_s = popularity_ttl_s
        self.segments = segments
        self.text = TextRetrieval(catalogue, ann_threshold)
        self.contexts = ContextCache(store, history_length, catalogue.dim, context_cache_users)
        self._no_history_scores: tuple[str, ModelScores | None] | None = None
        #: Scores the histories of concurrent requests together (see :meth:`prepare`).
        self.scoring = ScoringQueue()
        #: Whether :meth:`prepare` scores in the queue's worker thread (else on the caller's).
        self.scoring_thread = scoring_thread
        self._universe: _Universe | None = None
        self._pop: tuple[float, dict[str, int]] = (-np.inf, {})
        self._pop_lock = threading.Lock()
        self._pop_last_id = 0
        self._pop_full = -np.inf
        self._pop_array: tuple[tuple, np.ndarray] | None = None
        self._pop_version: str | None = None
        self._lock = threading.Lock()
        #: Weights learned online for the served fused model (None: its offline weights).
        self.online_weights: OnlineWeights | None = None
        #: Fills a list's last slots with rarely shown items (None: off; feedback/explore.py).
        self.explorer: Explorer | None = None

    # -- shared state ---------------------------------------------------------------
    def warm(self) -> None:
        """Do now what the first request would otherwise wait for: the universe of items,
        the text index past ``ann_threshold``, the popularity counts (a count over every
        stored event: seconds at ten million events) and the compiled per-user k-means."""
        clusters.warm()
        self.universe()
        self.text.warm()
        self.popularity()
        self._pop = (-np.inf, self._pop[1])  # the first request adds the events since: cheap

    def universe(self) -> _Universe:
        loaded = self.models.current
        key = (loaded.version if loaded else None, self.catalogue.seq, len(self.catalogue))
        u = self._universe
        if u is not None and u.key == key:
            return u
        with self._lock:
            ids = list(self.catalogue.ids)
            extra = [i for i in (loaded.item_pos if loaded else {}) if i not in
                     self.catalogue.pos]
            all_ids = np.asarray(ids + extra, dtype=object)
            pos = loaded.item_pos if loaded else {}
            model_col = np.fromiter((pos.get(i, -1) for i in all_ids), dtype=np.int64,
                                    count=len(all_ids))
            cat_row = np.concatenate([np.arange(len(ids)), np.full(len(extra), -1)]
                                     ).astype(np.int64)
            vecs, has, hidden = self._vectors(len(all_ids), len(ids))
            pos_all = {str(x): i for i, x in enumerate(all_ids)}
            self._universe = _Universe(key, all_ids, pos_all, model_col, cat_row, vecs, has,
                                       hidden)
            return self._universe

    def popularity(self) -> dict[str, int]:
        """Events per item: the store's plus those the served model was trained on.

        Counted once, then kept current from the events stored since (cheap: new rows
        only), at most every ``popularity_ttl_s``; a full recount every
        ``POPULARITY_RECOUNT_S`` forgets erased users' events.
        """
        loaded = self.models.current
        version = loaded.version if loaded else None
        now = time.monotonic()
        stamp = self._pop[0]
        if self._pop_version != version:  # a new model: count before serving with it
            with self._pop_lock:
                if self._pop_version != version:
                    self._count(loaded, version, full=True)
        elif now - self._pop_full > POPULARITY_RECOUNT_S:
            if self._pop_lock.acquire(blocking=False):  # recount in the background
                threading.Thread(target=self._count, args=(loaded, version),
                                 kwargs={"full": True, "release": True}, daemon=True).start()
        elif now - stamp > self.popularity_ttl_s and self._pop_lock.acquire(blocking=False):
            self._count(loaded, version, full=False, release=True)
        return self._pop[1]

    def _count(self, loaded: LoadedModel | None, version: str | None, *, full: bool,
               release: bool = False) -> None:
        """Bring the counts up to date (from scratch with ``full``)."""
        try:
            if full:
                counts, last_id = (dict(loaded.train_counts) if loaded else {}), 0
            else:
                counts, last_id = self._pop[1], self._pop_last_id
            new, last_id = self.store.item_counts_after(last_id)
            if new:
                counts = dict(counts)
                for item, c in new.items():
                    counts[item] = counts.get(item, 0) + c
            self._pop, self._pop_last_id = (time.monotonic(), counts), last_id
            if full:
                self._pop_full, self._pop_version = time.monotonic(), version
        finally:
            if release:
                self._pop_lock.release()

    def popularity_scores(self, u: _Universe) -> np.ndarray:
        """``POPULARITY_WEIGHT * log(1 + count) / max`` aligned with the universe (cached)."""
        counts = self.popularity()
        key = (u.key, id(counts))
        cached = self._pop_array
        if cached is not None and cached[0] == key:
            return cached[1]
        pop = count_array(u, counts)
        if pop.size and pop.max() > 0:
            pop = POPULARITY_WEIGHT * pop / pop.max()
        self._pop_array = (key, pop)
        return pop

    def user_context(self, user_key: str, revision: str | Unread | None = UNREAD
                     ) -> UserContext:
        """The user's context (see :mod:`driftrec.recommend.context`); ``revision``: the
        user's revision, when the caller has just read it."""
        return self.contexts.get(user_key, revision)

    def _vectors(self, n: int, n_cat: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Text vectors, has-vector and hidden flags aligned with the universe.

        When every universe item is a catalogue item, the vectors are the catalogue's own
        rows, not a copy (at a million 512-d items a copy is 2 GB): an item re-embedded
        meanwhile shows its new vector to a request still on this universe, and the next
        request builds a new universe (the catalogue's sequence is in its key).
        """
        cat = self.catalogue
        has = np.zeros(n, dtype=bool)
        hidden = np.zeros(n, dtype=bool)
        has[:n_cat] = cat.has_vector[:n_cat]
        hidden[:n_cat] = cat.hidden[:n_cat]
        if n == n_cat:
            return cat.vectors[:n_cat], has, hidden
        vecs = np.zeros((n, cat.dim), dtype=np.float32)
        vecs[:n_cat] = cat.vectors[:n_cat]
        return vecs, has, hidden

    # -- scoring --------------------------------------------------------------------
    def _model_scores(self, loaded: LoadedModel, ctx: UserContext) -> ModelScores | None:
        """The model's scores over its items for this user's history, or None when it has
        nothing to say about the user (every item scored alike).

        Computed once per user revision and model version and kept with the context: the
        user's next event (in any process) gives a new revision and a fresh computation.
        """
        if loaded.version in ctx.model_scores:
            return ctx.model_scores[loaded.version]
        history = self._history_to_score(loaded, ctx)
        result = (self._no_history_scores[1] if history is None
                  else model_scores(loaded.model, history))
        ctx.model_scores[loaded.version] = result
        return result

    def _history_to_score(self, loaded: LoadedModel, ctx: UserContext) -> Histories | None:
        """The history the model scores for this context; None for a user the model cannot
        tell from any other (no events on items it knows, not one of its training users),
        who gets the scores every such user gets (computed here once per model)."""
        row = loaded.user_rows.get(ctx.user_key, -1)
        history = model_history(loaded, ctx.events, row)
        if row >= 0 or len(history.items[0]):
            return history
        shared = self._no_history_scores
        if shared is None or shared[0] != loaded.version:
            self._no_history_scores = (loaded.version, model_scores(loaded.model, history))
        return None

    async def prepare(self, user_key: str, revision: str | Unread | None = UNREAD
                      ) -> UserContext:
        """The user's context with the model's scores in it, computed by the scoring queue
        (in a worker thread, batched with other requests') when they are not known yet;
        pass it to :meth:`recommend` as ``context``. For the event loop's requests. With
        ``scoring_thread`` off, scores still missing are computed by :meth:`recommend`, on
        the caller's thread."""
        ctx = self.user_context(user_key, revision)
        loaded = self.models.current
        if not self.scoring_thread or loaded is None or loaded.version in ctx.model_scores:
            return ctx
        history = self._history_to_score(loaded, ctx)
        if history is not None:
            ctx.model_scores[loaded.version] = await self.scoring.score(loaded, history)
        return ctx

    def segment_of(self, ctx: UserContext) -> tuple[Segments | None, int]:
        """The newest segments and the user's segment in them (-1: none), computed once
        per context and segments version."""
        segs = self.segments.get() if self.segments is not None else None
        if segs is None:
            return None, -1
        return segs, ctx.derived("segment", (segs.version, segs.built_at),
                                 lambda: segs.assign(ctx.vector))

    def _score(self, u: _Universe, ctx: UserContext, vecs: np.ndarray, has: np.ndarray,
               query_vec: np.ndarray | None, seg_counts: dict[str, int] | None, pool: int
               ) -> tuple[np.ndarray, np.ndarray]:
        """Scores and sources over the universe; ``pool``: how many items text retrieval
        must return past the threshold (enough for the list after filters)."""
        n = len(u.ids)
        source = np.full(n, POPULARITY, dtype=np.int8)
        uvec = ctx.vector
        if query_vec is not None:
            sim = self.text.similarities(vecs, query_vec, pool)
            if uvec is not None and self.text.approximate():  # the user's part on the pool
                rows = np.flatnonzero(np.isfinite(sim))
                sim[rows] = ((1 - QUERY_USER_WEIGHT) * sim[rows]
                             + QUERY_USER_WEIGHT * (vecs[rows] @ uvec))
            elif uvec is not None:  # every item: no copy of the vectors
                sim = (1 - QUERY_USER_WEIGHT) * sim + QUERY_USER_WEIGHT * (vecs @ uvec)
            score = np.where(has & np.isfinite(sim), np.clip(sim, 0.0, None), -np.inf)
            source[:] = QUERY
            return score, source
        loaded = self.models.current
        ms = self._model_scores(loaded, ctx) if loaded is not None else None
        if ms is not None:
            online = self.online_weights
            live = online is not None and online.model_version == loaded.version
            weights = online.weights if live else None
            # the same for every request on this context until the items, the model or
            # its online weights change (the caller does not change the arrays)
            return ctx.derived(
                "model_ranking", (u.key, online.version if live else None),
                lambda: self._model_ranking(u, ms.with_weights(weights), vecs, has, uvec,
                                            sample=self.text.approximate()))
        score = self.popularity_scores(u).copy()
        if uvec is not None:
            # past the retrieval threshold, items outside the pool count as similarity 0
            content = self.new_item_weight * np.clip(
                self.text.similarities(vecs, uvec, pool), 0.0, None)
            score = np.where(has, content, score)
            source[has] = CONTENT
            if seg_counts:
                seg = count_array(u, seg_counts)
                seg = POPULARITY_WEIGHT * seg / max(float(seg.max()), 1e-9)
                wins = seg > score
                score = np.where(wins, seg, score)
                source[wins] = SEGMENT
        return score, source

    @staticmethod
    def _model_ranking(u: _Universe, model_part: np.ndarray, vecs: np.ndarray,
                       has: np.ndarray, uvec: np.ndarray | None, *, sample: bool = False
                       ) -> tuple[np.ndarray, np.ndarray]:
        """The served order when the model can place the user: the model's own scores.

        Items the model does not know yet (written after it was loaded) get the model
        score found at the same rank among known items by content similarity to the user's
        interest: a new item as close to the user as the known item ranked r-th by
        similarity takes the score of the model's r-th best item (quantile matching). So a
        new item competes on the model's scale without overriding it; with no interest
        vector it gets the model's lowest score. With ``sample`` (a catalogue past the
        retrieval threshold) the similarity ranks are taken among evenly spaced known items.
        """
        known = u.model_col >= 0
        score = np.empty(len(u.ids), dtype=np.float64)
        score[known] = model_part[u.model_col[known]]
        source = np.full(len(u.ids), MODEL, dtype=np.int8)
        new = ~known & has
        score[~known] = -np.inf  # no vector and unknown to the model: cannot be ranked
        if new.any():
            known_scores = np.sort(score[known][np.isfinite(score[known])])
            ref = known & has
            if uvec is not None and ref.any() and len(known_scores):
                if sample:
                    ref_rows = np.flatnonzero(ref)
                    ref_rows = ref_rows[np.linspace(0, len(ref_rows) - 1, min(
                        len(ref_rows), QUANTILE_REFERENCE_ITEMS)).astype(np.int64)]
                    ref_sims, new_sims = np.sort(vecs[ref_rows] @ uvec), vecs[new] @ uvec
                else:
                    sims = vecs @ uvec
                    ref_sims, new_sims = np.sort(sims[ref]), sims[new]
                q = np.searchsorted(ref_sims, new_sims, side="right") / len(ref_sims)
                idx = np.clip(np.round(q * (len(known_scores) - 1)).astype(np.int64), 0,
                              len(known_scores) - 1)
                score[new] = known_scores[idx]
            elif len(known_scores):
                score[new] = known_scores[0]
            source[new] = CONTENT
        return score, source

    def recommend(self, user_key: str, k: int = 10, *, exclude_seen: bool = True,
                  diversity: float = 0.0, explain: bool = True,
                  query: str | None = None, query_vec: np.ndarray | None = None,
                  revision: str | Unread | None = UNREAD,
                  context: UserContext | None = None) -> list[Recommendation]:
        """Top-``k`` items for a user (or for free text, optionally personalised);
        ``revision``: the user's revision, when the caller has just read it; ``context``:
        the user's context from :meth:`prepare`."""
        u = self.universe()
        if not len(u.ids):
            return []  # no catalogue and no model: nothing to recommend yet
        vecs, has, hidden = u.vectors, u.has_vector, u.hidden
        ctx = context
        if ctx is None and user_key:
            ctx = self.user_context(user_key, revision)
        if ctx is None:
            ctx = empty_context(self.catalogue.dim)
        segs, seg_id = self.segment_of(ctx)
        seg_counts = segs.item_counts[seg_id] if segs is not None and seg_id >= 0 else None
        segment = segs.labels[seg_id] if segs is not None and seg_id >= 0 else None
        retrieve = max(10 * k, 200) + len(ctx.seen)
        score, source = self._score(u, ctx, vecs, has, query_vec, seg_counts, retrieve)
        score = np.where(hidden, -np.inf, score)
        if exclude_seen and user_key:
            rows = ctx.derived("seen_rows", u.key, lambda: np.array(
                [u.pos[i] for i in ctx.seen if i in u.pos], dtype=np.int64))
            if len(rows):
                score[rows] = -np.inf
        valid = np.flatnonzero(np.isfinite(score))
        if not len(valid):
            return []
        explorer = self.explorer if user_key and query_vec is None else None
        pool = max(k * 5, 50) if diversity > 0 else k
        if explorer is not None:
            pool += explorer.pool
        if len(valid) > pool:
            top = np.argpartition(-score[valid], pool - 1)[:pool]
            valid = valid[top]
        # stable order: score desc, then universe position
        valid = valid[np.lexsort((valid, -score[valid]))]
        picked = valid[mmr(score[valid], vecs[valid], k, diversity)]
        if explorer is not None:
            below = valid[~np.isin(valid, picked)][:explorer.pool]
            chosen = explorer.choose([str(x) for x in u.ids[below]],
                                     min(explorer.slots, len(picked) - 1))
            if chosen:
                picked = np.concatenate([picked[:len(picked) - len(chosen)], below[chosen]])
                source = source.copy()
                source[below[chosen]] = EXPLORE
        loaded = self.models.current
        shown = score[picked]
        if query_vec is None and loaded is not None and loaded.name in PROBABILITY_MODELS \
                and (source[picked] == MODEL).any():
            shown = expit(shown)  # the fused score is log-odds: show P(relevant)
        names = [*SOURCE_NAMES[:MODEL], loaded.source if loaded is not None else "model",
                 SOURCE_NAMES[EXPLORE]]
        recs = [Recommendation(str(u.ids[i]), float(v), names[source[i]],
                               self.catalogue.title(str(u.ids[i])))
                for i, v in zip(picked, shown, strict=True)]
        ms = ctx.model_scores.get(loaded.version) if loaded is not None else None
        if query_vec is None and ms is not None and ms.features is not None:
            row_of = ms.candidate_rows
            for rec, i in zip(recs, picked, strict=True):
                r = row_of.get(int(u.model_col[i]))
                if r is not None and rec.source in (loaded.source, SOURCE_NAMES[EXPLORE]):
                    rec.features = ms.features[r]
        if explain:
            self._explain(recs, u, ctx, vecs, has, query, segment)
        return recs

    def similar(self, item_id: str, k: int = 10) -> list[Recommendation]:
        """Items whose text is closest to ``item_id``'s (hidden items and itself left out)."""
        cat = self.catalogue
        vec = cat.vector(item_id)
        if vec is None:
            return []
        n = len(cat)
        sims = self.text.similarities(cat.vectors[:n], vec, max(10 * k, 200))
        sims = np.where(cat.has_vector[:n] & ~cat.hidden[:n], sims, -np.inf)
        sims[cat.pos[item_id]] = -np.inf
        valid = np.flatnonzero(np.isfinite(sims))
        order = valid[np.lexsort((valid, -sims[valid]))][:k]
        title = cat.title(item_id)
        return [Recommendation(cat.ids[i], float(sims[i]), "content", cat.titles[i],
                               [f"similar to {title}"]) for i in order]

    # -- reasons --------------------------------------------------------------------
    def _reason_history(self, ctx: UserContext
                        ) -> tuple[list[StoredEvent], list[StoredEvent], np.ndarray | None]:
        """What reasons may cite: the user's last events but low ratings, and those of
        them with a text vector (with the vectors, stacked)."""
        liked = [e for e in ctx.events[-REASON_HISTORY:]
                 if not (e.event_type == "rating" and e.value is not None and e.value <= 2.0)]
        with_vec = [(e, v) for e in liked if (v := self.catalogue.vector(e.item_id)) is not None]
        if not with_vec:
            return liked, [], None
        return liked, [e for e, _ in with_vec], np.stack([v for _, v in with_vec])

    def _explain(self, recs: list[Recommendation], u: _Universe, ctx: UserContext,
                 vecs: np.ndarray, has: np.ndarray, query: str | None,
                 segment: str | None) -> None:
        cat = self.catalogue
        liked, citable, citable_vecs = ctx.derived("reason_history", u.key,
                                                   lambda: self._reason_history(ctx))
        rows = np.array([u.pos[rec.item_id] for rec in recs], dtype=np.int64)
        closest = (why.closest(citable_vecs, vecs[rows]) if citable and len(rows) else None)
        for r, rec in enumerate(recs):
            i = rows[r]
            nearest: list[StoredEvent] = []
            if closest is not None and has[i]:
                nearest = [citable[j] for j in closest[r]]
            if rec.source == "query":
                rec.reasons.append(why.matches_query(query or ""))
                if nearest:
                    rec.reasons.append(why.similar_to_interest(
                        cat.title(nearest[0].item_id), new_item=False))
            elif rec.source == "content":
                topic = cat.title(nearest[0].item_id) if nearest else "what you engaged with"
                rec.reasons.append(why.similar_to_interest(topic, new_item=u.model_col[i] < 0))
            elif rec.source == "popularity":
                rec.reasons.append(why.popular())
            elif rec.source == "segment":
                rec.reasons.append(why.popular(segment))
            elif rec.source == "explore":
                rec.reasons.append("something new: shown to few people so far")
            else:
                basis = nearest or liked[-2:][::-1]
                if basis:
                    titles = list(dict.fromkeys(cat.title(e.item_id) for e in basis))
                    latest = max(basis, key=lambda e: (e.timestamp, e.seq))
                    rec.reasons.append(why.because_recent(titles, latest.event_type))
                else:
                    rec.reasons.append(f"recommended by the {rec.source} model")
