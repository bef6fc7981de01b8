"""Content-based interest model: items scored by closeness to the user's interest.

Each item is its text embedding; each user is their interest state built from the history
being scored (so a new event changes the next list with no retraining). The score mixes

* ``long_term`` / ``short_term``: cosine of the item to the slow / fast decayed interest;
* ``cluster``: best cosine of the item to any of the user's interest clusters;
* ``transfer``: what the user's nearest neighbours in interest space engaged with (50 of
  them; 3,000 for a user with fewer than 20 events); together with popularity it gets an
  extra weight ``w_thin * k0 / (k0 + n)`` that fades as the user's own history (``n``
  events) grows;
* ``popularity``: ``log(1 + count) / max``, a small prior (the whole score for a user with
  no events and no text).

Items added after fitting with :meth:`ContentRecommender.add_items` are scored from their
text at once, which is what makes this the fallback for items an ID model never saw. An
item nobody engaged with in training (a *cold* item) has no popularity and no neighbour
engagement of its own; both are taken from its nearest warm item in text space (or the
cosine-weighted mean of ``cold_neighbours`` of them), so it competes on what its closest
counterpart earned rather than sinking to the bottom. One neighbour works best: a mean
over many shrinks the imputed values towards the average and no cold item reaches a top-K.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from pydantic import Field, field_validator

from driftrec.data.dataset import Dataset, Histories
from driftrec.interest.build import history_interest
from driftrec.interest.clusters import choose_clusters
from driftrec.interest.config import InterestConfig
from driftrec.interest.state import InterestState
from driftrec.interest.transfer import TransferIndex, transfer_weight
from driftrec.models.base import Recommender
from driftrec.models.config import ModelConfig
from driftrec.text.cache import encode_texts
from driftrec.text.catalogue import embed_items
from driftrec.text.encoders import get_encoder, l2_normalise
from driftrec.text.neighbours import cold_item_proxy

log = logging.getLogger(__name__)

SIGNALS = ("long_term", "short_term", "cluster", "transfer", "popularity")


@dataclass
class UserSide:
    """What a batch of users' content signals are made of before any item is asked for:
    interest sums, interest-cluster centres and nearest neighbours.

    Computing it is most of the content model's work for one user, and it needs no
    candidate list, so the fused model computes it while its sequence network runs (which
    picks the candidates) and then asks for the candidates' signals alone.
    """

    long: np.ndarray
    short: np.ndarray
    n_events: np.ndarray
    #: Per user, unit centres of their interest clusters (None: the long-term vector).
    centres: list[np.ndarray | None]
    #: ``(user rows, neighbour indices, weights)`` per neighbourhood size.
    neighbours: list[tuple[np.ndarray, np.ndarray, np.ndarray]]


class ContentConfig(ModelConfig):
    """Options of the content model (also the ``content`` table of the fused model)."""

    encoder: str = Field("minilm", description="text encoder of item text: minilm, use, "
                         "hashing or a sentence-transformers model directory")
    template: str | None = Field(None, description="item text template, e.g. "
                                 "'{title} {genres}' (None: the default template)")
    cache_dir: str | None = Field(None, description="folder of the embedding cache "
                                  "(None: the default)")
    interest: dict[str, Any] = Field(default_factory=dict, description="interest state "
                                     "settings: half-lives, event weights, clusters "
                                     "(InterestConfig fields; empty: the defaults)")
    w_long: float = Field(0.5, description="weight of the long-term interest signal")
    w_short: float = Field(0.5, description="weight of the short-term interest signal")
    w_cluster: float = Field(0.25, description="weight of the best interest-cluster signal")
    w_transfer: float = Field(1.0, description="weight of neighbour engagement (transfer)")
    w_thin: float = Field(4.0, description="extra weight of transfer and popularity for a "
                          "thin history, times k0 / (k0 + n events)")
    w_pop: float = Field(0.5, description="weight of the popularity prior")
    transfer_k0: float = Field(5.0, ge=0, description="k0 of the fade k0 / (k0 + n) of "
                               "borrowed interest (0: none)")
    n_neighbours: int = Field(50, ge=1, description="users in interest space whose "
                              "engagement is transferred")
    thin_neighbours: int = Field(3000, ge=1, description="neighbours asked for a user with "
                                 "fewer than thin_below events")
    thin_below: int = Field(20, ge=0, description="events below which a user is thin")
    cold_neighbours: int = Field(1, ge=1, description="warm text neighbours an item "
                                 "without events borrows popularity and engagement from")
    clusters: bool = Field(True, description="score by the best of the user's interest "
                           "clusters (off: long-term interest)")
    seed: int = Field(0, description="seed of the interest clustering")

    renamed: ClassVar[dict[str, str]] = {"n_neighbors": "n_neighbours",
                                         "thin_neighbors": "thin_neighbours",
                                         "cold_neighbors": "cold_neighbours"}

    @field_validator("cache_dir", mode="before")
    @classmethod
    def _path_to_str(cls, value: Any) -> Any:
        return os.fspath(value) if isinstance(value, os.PathLike) else value

    @field_validator("interest")
    @classmethod
    def _check_interest(cls, value: dict[str, Any]) -> dict[str, Any]:
        InterestConfig.from_dict(value)
        return value


def standardise(x: np.ndarray) -> np.ndarray:
    """Per-row z-scores; a constant row (no information) becomes zeros."""
    x = np.asarray(x, dtype=np.float32)
    mu = x.mean(1, keepdims=True)
    sd = x.std(1, keepdims=True)
    return np.divide(x - mu, sd, out=np.zeros_like(x), where=sd > 1e-9)


class ContentRecommender(Recommender):
    """Interest in the text-embedding space; handles new users and new items."""

    name = "content"
    handles_new_items = True
    config_class = ContentConfig

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self.interest_config = InterestConfig.from_dict(self.config["interest"])
        self.item_vectors = np.zeros((0, 0), dtype=np.float32)
        self.popularity = np.zeros(0, dtype=np.float32)
        self.item_counts = np.zeros(0, dtype=np.float32)
        self._proxy: sp.csr_matrix | None = None
        self._cold = np.zeros(0, dtype=np.int64)
        self._cold_rows: sp.csr_matrix | None = None
        self.transfer_index: TransferIndex | None = None

    # -- training -------------------------------------------------------------------
    def fit(self, dataset: Dataset, item_vectors: np.ndarray | None = None
            ) -> ContentRecommender:
        """Embed the catalogue (cached) and index training users for transfer.

        ``item_vectors`` (one row per catalogue item) skips the text encoder.
        """
        self.item_ids = dataset.item_ids
        if item_vectors is None:
            item_vectors = embed_items(dataset, self.config["encoder"], self.config["template"],
                                       self.config["cache_dir"])
        if len(item_vectors) != dataset.n_items:
            raise ValueError(f"item_vectors has {len(item_vectors)} rows, "
                             f"the catalogue {dataset.n_items} items")
        self.item_vectors = l2_normalise(item_vectors)
        user_items = dataset.interactions()
        self._set_counts(np.asarray(user_items.sum(axis=0)).ravel())
        train = Histories.from_events(dataset.events, np.arange(dataset.n_users))
        users = history_interest(train, self.item_vectors, self.interest_config).long_term
        self.transfer_index = TransferIndex(users, user_items,
                                            n_neighbours=self.config["n_neighbours"],
                                            k0=self.config["transfer_k0"])
        return self

    # -- new items ------------------------------------------------------------------
    def add_items(self, item_ids: list[str], text_embeddings: np.ndarray | None = None, *,
                  texts: list[str] | None = None) -> np.ndarray:
        """Add items from their text embeddings (or texts); returns their indices. Scored at
        once."""
        vectors = text_embeddings
        if vectors is None:
            if texts is None:
                raise ValueError("add_items needs the new items' texts or vectors")
            vectors = encode_texts(list(texts), get_encoder(self.config["encoder"]),
                                   cache_dir=self.config["cache_dir"], progress=False)
        vectors = l2_normalise(vectors)
        if vectors.shape != (len(item_ids), self.item_vectors.shape[1]):
            raise ValueError(f"new item vectors have shape {vectors.shape}, expected "
                             f"({len(item_ids)}, {self.item_vectors.shape[1]})")
        known = set(map(str, self.item_ids))
        dup = [i for i in item_ids if str(i) in known]
        if dup:
            raise ValueError(f"items already in the catalogue: {dup[:5]}")
        start = self.n_items
        self.item_ids = np.concatenate([self.item_ids, np.asarray(item_ids, dtype=object)])
        self.item_vectors = np.vstack([self.item_vectors, vectors])
        self._set_counts(np.concatenate([self.item_counts, np.zeros(len(item_ids))]))
        ti = self.transfer_index
        if ti is not None and ti.user_items is not None:
            ti.user_items = sp.hstack([ti.user_items,
                                       sp.csr_matrix((ti.user_items.shape[0], len(item_ids)),
                                                     dtype=np.float32)]).tocsr()
        return np.arange(start, self.n_items)

    def _set_counts(self, counts: np.ndarray) -> None:
        """Training engagement counts -> popularity, with cold items imputed from text."""
        self.item_counts = np.asarray(counts, dtype=np.float32)
        self._proxy = self._cold_proxy()
        # the proxy is the identity on warm items: only cold items' rows need a product
        self._cold = np.flatnonzero(self.item_counts <= 0)
        self._cold_rows = self._proxy[self._cold]
        raw = np.log1p(self.item_counts)
        raw = np.asarray(self._proxy @ raw).ravel()
        self.popularity = (raw / max(raw.max(), 1e-9)).astype(np.float32)

    def _cold_proxy(self) -> sp.csr_matrix:
        """Item x item map: identity for warm items, text neighbours for cold ones."""
        return cold_item_proxy(self.item_vectors, self.item_counts > 0,
                               int(self.config["cold_neighbours"]))

    # -- scoring --------------------------------------------------------------------
    def signals(self, histories: Histories, columns: np.ndarray | None = None
                ) -> dict[str, np.ndarray]:
        """Each signal as an ``(n, n_items)`` float32 array (plus ``n_events``, shape (n,));
        with ``columns`` (item indices), ``(n, len(columns))``: those items only, which is
        what a caller that re-ranks a few candidates needs."""
        return self.signals_for(self.user_side(histories), columns)

    def user_side(self, histories: Histories) -> UserSide:
        """The users' side of :meth:`signals` (see :class:`UserSide`)."""
        m = history_interest(histories, self.item_vectors, self.interest_config)
        liked = [self._liked(histories, r) for r in range(len(histories))]
        return self._user_side(m.long_term, m.short_term, liked, m.n_events, histories.users)

    def score(self, histories: Histories) -> np.ndarray:
        return self.combine(self.signals(histories))

    def score_states(self, states: list[InterestState], user_rows: np.ndarray | None = None
                     ) -> np.ndarray:
        """Scores from live interest states (serving): a state with only text counts too."""
        long = np.stack([s.long_term for s in states]).astype(np.float32)
        short = np.stack([s.short_term for s in states]).astype(np.float32)
        pos = {str(i): j for j, i in enumerate(self.item_ids)}
        liked = [np.array([pos[i] for i in s.liked_items if i in pos], dtype=np.int64)
                 for s in states]
        n = np.array([s.n_events for s in states])
        rows = np.full(len(states), -1) if user_rows is None else np.asarray(user_rows)
        return self.combine(self.signals_for(self._user_side(long, short, liked, n, rows)))

    def combine(self, sig: dict[str, np.ndarray]) -> np.ndarray:
        """The model's own weighting of its signals, each standardised per user first.

        Standardising (z-scores over the catalogue) puts cosines, neighbour shares and
        popularity on one scale, so the weights mean what they say. Borrowed interest (what
        neighbours engaged with, and what everyone engages with) gets an extra weight
        ``w_thin * k0 / (k0 + n)``: dominant for a user with a handful of events, fading
        as the user's own history (``n`` events) grows.
        """
        c = self.config
        thin = (c["w_thin"] * transfer_weight(sig["n_events"], c["transfer_k0"])
                ).astype(np.float32)[:, None]
        out = np.zeros_like(sig["popularity"], dtype=np.float32)
        for key, w in (("long_term", c["w_long"]), ("short_term", c["w_short"]),
                       ("cluster", c["w_cluster"]), ("transfer", c["w_transfer"] + thin),
                       ("popularity", c["w_pop"] + thin)):
            if np.any(w):
                out += w * standardise(sig[key])
        return out

    def _liked(self, histories: Histories, r: int) -> np.ndarray:
        items = histories.items[r]
        if not len(items):
            return items
        w = self.interest_config.event_weights(histories.event_types[r], histories.values[r])
        return items[w > 0][-self.interest_config.cluster_window:]

    def _user_side(self, long: np.ndarray, short: np.ndarray, liked: list[np.ndarray],
                   n_events: np.ndarray, users: np.ndarray) -> UserSide:
        """Cluster centres and neighbourhoods of users with these interest sums."""
        ti = self.transfer_index
        if ti is None:
            raise RuntimeError("the content model is not fitted; call fit() first")
        cfg = self.interest_config
        centres: list[np.ndarray | None] = []
        for items in liked:
            if not self.config["clusters"] or len(items) < 4:
                centres.append(None)
                continue
            cents, _, _ = choose_clusters(self.item_vectors[items].astype(np.float64),
                                          max_k=cfg.max_clusters, seed=self.config["seed"])
            centres.append(cents.astype(np.float32))
        n_events = np.asarray(n_events)
        exclude = np.where(np.asarray(users) < len(ti.user_vectors), np.asarray(users), -1)
        # users with fewer than thin_below events borrow from a wide neighbourhood
        # (thin_neighbours): the less we know, the more users we ask
        thin = n_events < self.config["thin_below"]
        neighbours = []
        for mask, k in ((~thin, self.config["n_neighbours"]),
                        (thin, self.config["thin_neighbours"])):
            if mask.any():
                idx, sims = ti.neighbours(long[mask], exclude[mask], k)
                neighbours.append((np.flatnonzero(mask), idx, ti.neighbour_weights(sims)))
        return UserSide(long, short, n_events, centres, neighbours)

    def signals_for(self, side: UserSide, columns: np.ndarray | None = None
                    ) -> dict[str, np.ndarray]:
        """:meth:`signals` from the users' side: the products with the items asked for."""
        cols = np.arange(self.n_items) if columns is None else np.asarray(columns, np.int64)
        v = self.item_vectors if columns is None else self.item_vectors[cols]
        n = len(side.long)
        return {
            "long_term": (side.long @ v.T).astype(np.float32),
            "short_term": (side.short @ v.T).astype(np.float32),
            "cluster": self._cluster_scores(side, v),
            "popularity": np.broadcast_to(self.popularity[cols], (n, len(cols))
                                          ).astype(np.float32),
            "transfer": self._transfer(side, cols),
            "n_events": np.asarray(side.n_events, dtype=np.int64),
        }

    def _transfer(self, side: UserSide, cols: np.ndarray) -> np.ndarray:
        """Neighbour engagement with the items ``cols``; a cold item (no training events,
        or added after fitting) takes that of its nearest warm items by text."""
        width = self.transfer_index.user_items.shape[1]
        cold_at = np.flatnonzero(np.isin(cols, self._cold))
        proxy = (self._cold_rows[np.searchsorted(self._cold, cols[cold_at])]
                 if len(cold_at) else None)
        # the warm items asked for, and those the cold ones borrow from
        needed = cols[cols < width]
        if proxy is not None:
            needed = np.union1d(needed, proxy.indices)
        engaged = np.empty((len(side.long), len(needed)), dtype=np.float32)
        for rows, idx, w in side.neighbours:
            engaged[rows] = self.transfer_index.engagement(idx, w, needed)
        if proxy is None and len(needed) == len(cols):
            return engaged  # every column warm, in the order asked
        out = np.zeros((len(side.long), len(cols)), dtype=np.float32)
        warm_at = np.flatnonzero(cols < width)
        out[:, warm_at] = engaged[:, np.searchsorted(needed, cols[warm_at])]
        if proxy is not None:
            out[:, cold_at] = np.asarray(proxy[:, needed] @ engaged.T).T
        return out

    @staticmethod
    def _cluster_scores(side: UserSide, v: np.ndarray) -> np.ndarray:
        """Best cosine of each item (rows of ``v``) to any of the user's interest clusters."""
        out = np.empty((len(side.long), len(v)), dtype=np.float32)
        for r, centres in enumerate(side.centres):
            if centres is None:
                out[r] = side.long[r] @ v.T
            else:
                # one matrix-vector product per centre: OpenBLAS's matrix product with 2-5
                # rows took 4x as long, and this runs on every request after a user's event
                out[r] = np.max([v @ c for c in centres], axis=0)
        return out

    # -- persistence ----------------------------------------------------------------
    def _save_state(self, directory: Path) -> None:
        np.save(directory / "item_vectors.npy", self.item_vectors)
        np.save(directory / "item_counts.npy", self.item_counts)
        ti = self.transfer_index
        if ti is not None:
            np.save(directory / "user_vectors.npy", ti.user_vectors)
            ui = ti.user_items.tocsr()
            np.save(directory / "user_items_indptr.npy", ui.indptr)
            np.save(directory / "user_items_indices.npy", ui.indices)
            np.save(directory / "user_items_shape.npy", np.asarray(ui.shape))

    def _load_state(self, directory: Path) -> None:
        self.item_vectors = np.load(directory / "item_vectors.npy")
        self._set_counts(np.load(directory / "item_counts.npy"))
        if (directory / "user_vectors.npy").exists():
            indptr = np.load(directory / "user_items_indptr.npy")
            indices = np.load(directory / "user_items_indices.npy")
            shape = tuple(np.load(directory / "user_items_shape.npy"))
            ui = sp.csr_matrix((np.ones(len(indices), np.float32), indices, indptr), shape=shape)
            self.transfer_index = TransferIndex(np.load(directory / "user_vectors.npy"), ui,
                                                n_neighbours=self.config["n_neighbours"],
                                                k0=self.config["transfer_k0"])
