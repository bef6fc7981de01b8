"""Everything one service process holds: store, encoder, catalogue, model and engine.

Request handlers call the methods here; they keep the order that makes the API's promises
true: events are committed together with the user's new interest state before a handler
returns, and every request first pulls what other processes changed (items, active model).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from starlette.concurrency import run_in_threadpool

from driftrec.config import Settings
from driftrec.data.schema import ITEM_ID
from driftrec.feedback.explore import Explorer
from driftrec.feedback.loop import FeedbackLoop
from driftrec.feedback.update import Weights
from driftrec.interest.config import InterestConfig
from driftrec.models.bundle import CATALOGUE_DIR
from driftrec.recommend.context import UNREAD
from driftrec.recommend.encoding import HASHING, embedding_key, load_encoder, to_bytes
from driftrec.recommend.interest import InterestUpdater
from driftrec.recommend.models import LoadedModel, ModelHolder, load_model, training_users
from driftrec.recommend.pipeline import OnlineWeights, Recommendation, RecommendationEngine
from driftrec.recommend.segment_index import SegmentIndex
from driftrec.recommend.served_items import Catalogue
from driftrec.recommend.user_profile import Projection
from driftrec.service.ingest import GroupCommitter
from driftrec.store import ItemRecord, NewEvent, Store
from driftrec.store.feedback import (
    ACTIVE_WEIGHTS,
    Impression,
    get_weights,
    impression_row,
    new_recommendation_id,
)
from driftrec.store.store import StateUpdater, UserWrite
from driftrec.text import TextEncoder, encode_texts, item_text, item_texts

log = logging.getLogger(__name__)

#: Catalogue items embedded and stored per step of a bundle's catalogue import.
CATALOGUE_CHUNK = 10_000
#: Longest time the event writer goes without pulling what other processes changed (items,
#: the served model); an event on an item this process does not know pulls at once.
WRITER_REFRESH_S = 1.0


@dataclass
class ItemWrite:
    item_id: str
    title: str
    text: str
    attributes: dict[str, Any]
    hidden: bool = False


def item_row(item: ItemWrite | ItemRecord) -> dict[str, Any]:
    """The catalogue row an API item reads as: its attributes, with ``title`` and its text as
    ``description`` (where given), so it renders like the same item in a bundle's catalogue."""
    row: dict[str, Any] = {**item.attributes, ITEM_ID: item.item_id}
    if item.title:
        row["title"] = item.title
    if item.text:
        row["description"] = item.text
    return row


class ServiceCore:
    """One process's view of the service (see module docstring)."""

    def __init__(self, settings: Settings, encoder: TextEncoder | None = None) -> None:
        self.settings = settings
        secret = settings.id_secret.get_secret_value() if settings.id_secret else None
        self.store = Store(settings.database_url, secret)
        self.encoder = encoder or load_encoder(settings.encoder)
        self.catalogue = Catalogue(dim=int(self.encoder.dim))
        self.models = ModelHolder()
        self.projection = Projection()
        self._reload_lock = threading.Lock()
        self.catalogue.sync(self.store)
        self._load_initial_model()  # re-embeds stale items with the model's text template
        if self.models.current is None:
            self._reembed_stale_items(None)
        self.segments = SegmentIndex(self.store, self.catalogue,
                                     max_age_s=settings.segment_refresh_s,
                                     refit_s=settings.segment_refit_s)
        self.engine = RecommendationEngine(
            self.store, self.catalogue, self.models, history_length=settings.history_length,
            new_item_weight=settings.new_item_weight,
            popularity_ttl_s=settings.popularity_ttl_s, segments=self.segments,
            context_cache_users=settings.context_cache_users,
            ann_threshold=settings.ann_threshold, scoring_thread=settings.scoring_thread)
        self._weights_key: str | None = None
        self._refreshed_at = -float("inf")  # time.monotonic() of the last refresh
        #: The store's change count when the shared values were last read (SQLite).
        self._meta_checked_at: int | None = None
        self.writer = GroupCommitter(self.store, self._commit_updater, on_written=self._written)
        self.feedback = FeedbackLoop(self.store, self.models, settings.feedback)
        if settings.feedback.explore_slots:
            self.engine.explorer = Explorer(
                self.store.item_feedback, slots=settings.feedback.explore_slots,
                pool=settings.feedback.explore_pool,
                max_impressions=settings.feedback.explore_max_impressions)
        self.started_at = time.time()

    # -- start-up -------------------------------------------------------------------
    def embedding_key(self, template: str | None) -> str:
        """The key stored with each item vector: this service's encoder and text rule."""
        return embedding_key(self.encoder.name, template)

    def _embed(self, texts: list[str], *, cache: bool) -> np.ndarray:
        """Item text vectors; every item route embeds through here, so one text gets one
        vector. The on-disk cache pays off for language models over whole catalogues (it
        holds the vectors the model was trained with), not for single writes or for the
        instant hashing encoder."""
        return encode_texts(texts, self.encoder, progress=False,
                            use_cache=cache and self.encoder.name != HASHING)

    def _reembed_stale_items(self, template: str | None, batch: int = 1000) -> None:
        """Re-embed the stored items whose vectors came from another encoder or item text
        rule (a migration: it runs once after either changes)."""
        key = self.embedding_key(template)
        stale = self.store.items_with_encoder_other_than(key)
        if not stale:
            return
        log.info("re-embedding %d stored items: encoder or item text rule changed (now %s)",
                 len(stale), key)
        for start in range(0, len(stale), batch):
            part = stale[start:start + batch]
            self._write_items([ItemWrite(r.item_id, r.title, r.text, r.attributes, r.hidden)
                               for r in part], template, sync=False, cache=True)
            log.info("re-embedded %d/%d items", start + len(part), len(stale))
        self.catalogue.sync(self.store)
        log.info("re-embedding done: %d items now embedded as %s", len(stale), key)

    def import_catalogue(self, model_dir: str | Path, template: str | None = None) -> int:
        """Add the items of a trained-model bundle that the store does not have yet,
        embedded with ``template`` (the bundle model's item text template).

        Items written through the API win: an item already stored is left as it is.
        """
        path = Path(model_dir) / CATALOGUE_DIR / "items.parquet"
        if not path.is_file():
            return 0
        items = pd.read_parquet(path)
        items[ITEM_ID] = items[ITEM_ID].astype(str)
        have = set(self.catalogue.ids)
        new = items[~items[ITEM_ID].isin(have)].reset_index(drop=True)
        if new.empty:
            return 0
        log.info("importing %d catalogue items from %s", len(new), path)
        key = self.embedding_key(template)
        # in chunks: a million-item catalogue never holds all its vectors twice over
        for start in range(0, len(new), CATALOGUE_CHUNK):
            part = new.iloc[start:start + CATALOGUE_CHUNK]
            vecs = self._embed(item_texts(part, template), cache=True)
            records = []
            for row, vec in zip(part.to_dict("records"), vecs, strict=True):
                attrs = {k: v for k, v in row.items()
                         if k not in (ITEM_ID, "title") and v not in (None, "", "nan")}
                records.append(ItemRecord(row[ITEM_ID], str(row.get("title") or ""), "",
                                          attrs, False, to_bytes(vec), key))
            for at in range(0, len(records), 1000):
                self.store.upsert_items(records[at:at + 1000])
            if len(new) > CATALOGUE_CHUNK:
                log.info("catalogue items embedded and stored: %d of %d",
                         start + len(part), len(new))
        self.catalogue.sync(self.store)
        return len(new)

    def _prepare(self, loaded: LoadedModel) -> LoadedModel:
        """Import the bundle's catalogue and teach the model the catalogue's other items.

        A model that scores new items from their text (``handles_new_items``, e.g. the
        fused and content models) is given the stored items
        it has not seen, *before* it is published, so it is never changed while serving.
        Items written later fall back to content similarity until the next reload.
        The bundle's training users are mapped to their pseudonymous keys, so that a user
        the model was trained on is scored as that user (e.g. left out of their own
        neighbours), exactly as offline.
        """
        model = loaded.model
        loaded.user_rows = {self.store.user_key(uid): row
                            for row, uid in enumerate(training_users(Path(loaded.path)))}
        self._reembed_stale_items(model.text_template)
        self.import_catalogue(loaded.path, model.text_template)
        if not model.handles_new_items:
            return loaded
        if model.config.get("encoder") != self.encoder.name:
            log.info("model %s embeds text with %r, the service with %r: new items are "
                     "scored by content similarity instead", loaded.version,
                     model.config.get("encoder"), self.encoder.name)
            return loaded
        cat = self.catalogue
        new = [i for i, item in enumerate(cat.ids)
               if item not in loaded.item_pos and cat.has_vector[i]]
        if not new:
            return loaded
        ids, vecs = [cat.ids[i] for i in new], cat.vectors[new]
        try:
            model.add_items(ids, vecs)
        except Exception as exc:
            log.warning("model %s could not take %d new items: %s", loaded.version, len(ids),
                        exc)
            return loaded
        loaded.item_pos = {str(x): i for i, x in enumerate(model.item_ids)}
        log.info("model %s now scores %d catalogue items it was not trained on",
                 loaded.version, len(ids))
        return loaded

    def _load_initial_model(self) -> None:
        if self.settings.model_dir is not None:
            loaded = self._prepare(load_model(self.settings.model_dir))
            self.models.swap(loaded)
            self.store.set_active_model(loaded.version, loaded.path, loaded.name)
            return
        active = self.store.active_model()
        if active is not None:
            try:
                self.models.swap(self._prepare(load_model(active[1])))
            except Exception as exc:  # a model another process served may be gone
                log.warning("cannot load the active model %s: %s", active[0], exc)
        else:
            log.warning("no model configured: serving content and popularity only")

    def start_background(self) -> None:
        """Start the work a running service does besides answering (the feedback loop)."""
        self.feedback.start()

    def close(self) -> None:
        self.feedback.stop()
        self.segments.close()
        self.writer.close()
        self.store.close()

    # -- keeping processes in step --------------------------------------------------
    def refresh(self, meta: Mapping[str, str] | None = None) -> None:
        """Pull items changed elsewhere and switch to the model every process should serve
        (``meta``: the store's meta values, when the caller has just read them)."""
        self._refreshed_at = time.monotonic()
        meta = self.store.meta_values() if meta is None else meta
        if int(meta.get("item_seq", 0)) != self.catalogue.seq:
            self.catalogue.sync(self.store)
        if meta.get(ACTIVE_WEIGHTS) != self._weights_key:
            self._load_weights(meta.get(ACTIVE_WEIGHTS))
        active = meta.get("active_model")
        current = self.models.current
        if active and (current is None or current.version != active):
            with self._reload_lock:
                current = self.models.current
                if current is None or current.version != active:
                    found = self.store.active_model()
                    if found is not None:
                        try:
                            self.models.swap(self._prepare(load_model(found[1])))
                        except Exception as exc:
                            log.warning("cannot switch to model %s: %s", found[0], exc)

    def refresh_for(self, user_key: str) -> str | None:
        """:meth:`refresh`, and the user's current revision, read in one statement (a
        request for one user: pass the revision on to the engine).

        Nothing is read when the store's change count shows that no process wrote
        anything since this process last read the shared values and the user's context
        (SQLite; :mod:`driftrec.recommend.context`): then both are current already.
        """
        count = self.store.change_count()
        if count is not None and count == self._meta_checked_at:
            held = self.engine.contexts.held_revision(user_key, count)
            if held is not UNREAD:
                return held
        meta, revision = self.store.meta_and_revision(user_key)
        self.refresh(meta)
        if count is not None:
            self._meta_checked_at = count
            self.engine.contexts.confirm(user_key, revision, count)
        return revision

    def _load_weights(self, key: str | None) -> None:
        """Serve the active online weights version (the one every process serves)."""
        row = None
        if key is not None:
            with self.store.engine.connect() as conn:
                row = get_weights(conn, int(key))
        self.engine.online_weights = None if row is None else OnlineWeights(
            row.model_version, row.version,
            Weights(np.asarray(row.coef), row.intercept, row.updates))
        self._weights_key = key

    def record_impression(self, user_key: str, recs: list[Recommendation]) -> str:
        """Record a served list (what the feedback loop learns from) in the writer's next
        commit, without waiting for it; returns its ``recommendation_id``."""
        recommendation_id = new_recommendation_id()
        online = self.engine.online_weights
        current = self.models.current
        version = current.version if current is not None else "none"
        weights_version = online.version if online is not None and \
            online.model_version == version else 0
        row = impression_row(Impression(
            recommendation_id, user_key, time.time(), version, weights_version,
            [(r.item_id, pos, r.features) for pos, r in enumerate(recs)]))
        self.writer.record([row])
        return recommendation_id

    @property
    def interest_config(self) -> InterestConfig:
        """The served model's interest settings (defaults when it has none): every stored
        interest state is built with them, so the service sees users as the model does."""
        current = self.models.current
        config = current.model.interest_config if current is not None else None
        return config or InterestConfig()

    @property
    def text_template(self) -> str | None:
        """The served model's item text template (None: the default rule)."""
        current = self.models.current
        return current.model.text_template if current is not None else None

    @property
    def model_version(self) -> str:
        current = self.models.current
        return current.version if current is not None else "none"

    # -- writes ---------------------------------------------------------------------
    def ingest(self, events: list[NewEvent]) -> tuple[int, int]:
        """Store events and update the users' interest states; returns ``(accepted,
        duplicates)`` once they are durable. Concurrent calls share one transaction
        (:mod:`driftrec.service.ingest`); each call is all-or-nothing."""
        return self.writer.submit(events, self.text_vectors(events))

    async def ingest_async(self, events: list[NewEvent]) -> tuple[int, int]:
        """:meth:`ingest` for a handler on the event loop: texts are encoded in the thread
        pool (a language model call) and the commit is awaited, so no thread waits for
        the disk."""
        vectors = await run_in_threadpool(self.text_vectors, events) if any(
            e.text for e in events) else {}
        return await asyncio.wrap_future(self.writer.enqueue(events, vectors))

    def text_vectors(self, events: list[NewEvent]) -> dict[str, np.ndarray]:
        """The language model's vectors of the events' texts (none for events without)."""
        texts = sorted({e.text for e in events if e.text})
        return dict(zip(texts, self.encoder.encode(texts), strict=True)) if texts else {}

    def state_updater(self, text_vectors: Mapping[str, np.ndarray], *, keep: bool = True
                      ) -> InterestUpdater:
        """The function that moves a user's stored interest state by new events, with the
        served model's interest config (the same one bulk import uses; it passes
        ``keep=False``)."""
        return InterestUpdater(self.catalogue, text_vectors, self.interest_config, keep=keep)

    def _commit_updater(self, text_vectors: Mapping[str, np.ndarray],
                        events: list[NewEvent]) -> InterestUpdater:
        """The event writer's updater for one commit, after pulling what other processes
        changed (items, the served model and its interest config) when an event names an
        item this process does not know or the last pull is older than
        :data:`WRITER_REFRESH_S`. In the writer, not on the event loop once per event
        request: under load that read was a tenth of the event path, and on PostgreSQL a
        round trip per commit of the one writer thread costs events a second."""
        stale = time.monotonic() - self._refreshed_at > WRITER_REFRESH_S
        if stale or any(e.item_id not in self.catalogue.pos for e in events):
            self.refresh()
        return self.state_updater(text_vectors)

    def _written(self, written: dict[str, UserWrite], updater: StateUpdater) -> None:
        """After an event commit: bring this process's in-memory contexts of the users
        written up to the new revision from what was just written, so that the users'
        next requests read nothing back from the store."""
        states = getattr(updater, "states", {})
        change = self.store.last_change()  # this commit's (the writer thread's latest)
        for key, write in written.items():
            self.engine.contexts.advance(key, write, states.get(key),
                                         None if change is None else change[1])
        if change is not None and self._meta_checked_at == change[0]:
            # an event commit changes no shared value: what was current before still is
            self._meta_checked_at = change[1]

    def _write_items(self, items: list[ItemWrite], template: str | None, *,
                     sync: bool = True, cache: bool = False) -> int:
        """Embed items with the item text ``template`` (None: the default) and store them."""
        vecs = self._embed([item_text(item_row(i), template) for i in items], cache=cache)
        key = self.embedding_key(template)
        records = [ItemRecord(i.item_id, i.title, i.text, i.attributes, i.hidden,
                              to_bytes(v), key)
                   for i, v in zip(items, vecs, strict=True)]
        seq = self.store.upsert_items(records)
        if sync:
            self.catalogue.sync(self.store)
        return seq

    def upsert_items(self, items: list[ItemWrite]) -> int:
        """Embed and store items; they are recommendable when this returns."""
        self._write_items(items, self.text_template)
        return len(items)

    def hide_item(self, item_id: str) -> bool:
        found = self.store.set_hidden(item_id, True)
        if found:
            self.catalogue.sync(self.store)
        return found

    def reload(self, model_dir: str | None) -> tuple[str, str | None, str]:
        """Load a model version and make it the one every process serves."""
        path = model_dir or (str(self.settings.model_dir) if self.settings.model_dir else None)
        if path is None:
            raise ValueError("no model_dir given and none configured")
        with self._reload_lock:
            loaded = self._prepare(load_model(path))
            previous = self.models.swap(loaded)
            self.store.set_active_model(loaded.version, loaded.path, loaded.name)
        return loaded.version, previous.version if previous else None, loaded.name

    def encode_query(self, text: str) -> np.ndarray:
        return self.encoder.encode([text])[0]
