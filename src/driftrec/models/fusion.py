"""Fused recommender: P(relevant | history, item) = sigmoid(W . features + b).

Per (user, item) the features are the sequence model's log-probability of the item, the
content model's long-term, short-term, best-cluster and transfer signals, the item's
log-popularity and its recency (how recently anybody engaged with it). ``W`` and ``b`` are
a logistic regression fitted on held-out next items: the last event of some users is kept
out of the component models' training, and the model learns to tell that item apart from
the components' own top candidates and from random items. Any signal can be switched off
(``signals=[...]``) for ablations; ``weights()`` shows what was learned. Candidates without
a training event keep the sequence model's place among the others (``place_untrained``):
the weights were fitted on items with events and cannot speak for them.
"""

from __future__ import annotations

import itertools
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args

import numpy as np
from pydantic import Field, field_validator, model_validator

from driftrec.data.dataset import Dataset, Histories
from driftrec.data.schema import ITEM_IDX, TIMESTAMP, USER_IDX
from driftrec.data.splits import holdout_sample, rank_in_user
from driftrec.interest.config import InterestConfig
from driftrec.models.base import Recommender
from driftrec.models.config import ModelConfig
from driftrec.models.content import UserSide
from driftrec.models.early import (
    N_EVENTS,
    STAGE_SIGNAL,
    TRANSITION_SIGNAL,
    BucketWeights,
    EarlyWeights,
    early_transitions,
    fit_listwise,
    fit_logistic,
    prefix_steps,
    stage_popularity,
    top_unbanned,
)
from driftrec.models.registry import create_model, validate_config
from driftrec.text.encoders import l2_normalise
from driftrec.text.neighbours import cold_item_proxy
from driftrec.utils.background import in_background

log = logging.getLogger(__name__)

SEQUENCE_SIGNALS = ("sequence",)
#: Registered models the fused model can use as its sequence component.
SequenceModelName = Literal["sasrec-text", "sasrec"]
SEQUENCE_MODELS: tuple[str, ...] = get_args(SequenceModelName)
CONTENT_SIGNALS = ("long_term", "short_term", "cluster", "transfer")
ITEM_SIGNALS = ("popularity", "recency")
SIGNALS = (*SEQUENCE_SIGNALS, *CONTENT_SIGNALS, *ITEM_SIGNALS)
FUSION_FILE = "fusion.json"
UNTRAINED_FILE = "untrained.npy"
SECONDS_PER_DAY = 86_400.0
#: Key of the candidate mask in :meth:`FusedRecommender.features`.
CANDIDATES = "_candidates"
#: Key of the sequence model's log-probabilities, which order the items outside the
#: candidates (whether or not ``sequence`` is a fused signal).
SEQUENCE_ORDER = "_sequence_order"
#: How far below every candidate the other items are placed (scores stay finite).
OUTSIDE_OFFSET = 1e4
#: Text neighbours whose popularity and recency an item without events borrows (one is
#: best: a mean over several shrinks towards the average, see ``models/content.py``).
COLD_NEIGHBORS = 1
#: Uniformly drawn items each short-history step's target is ranked against in training.
EARLY_NEGATIVES = 200



class FusionConfig(ModelConfig):
    """Options of the fused model (``default``)."""

    signals: list[str] = Field(default_factory=lambda: list(SIGNALS), description="signals "
                               "fused, a non-empty subset of " + ", ".join(SIGNALS))
    sequence_model: SequenceModelName = Field(
        "sasrec-text", description="registered model used as the sequence component")
    sequence: dict[str, Any] = Field(default_factory=dict, description="options of the "
                                     "sequence component (see its model)")
    content: dict[str, Any] = Field(default_factory=dict, description="options of the "
                                    "content component (see the content model)")
    encoder: str = Field("minilm", description="text encoder of item text, shared by the "
                         "components unless their options name one")
    holdout_users: int = Field(2000, ge=1, description="users whose last event is held out "
                               "to fit the fusion weights")
    candidates: int = Field(100, ge=0, description="the sequence model's top unseen items "
                            "re-ranked by the fused score, kept above every other item "
                            "(which keep the sequence model's order; 0: fuse over the "
                            "whole catalogue)")
    hard_negatives: int = Field(50, ge=0, description="hard negatives per held-out event "
                                "without a candidate stage (top items of the user-specific "
                                "signals in equal shares)")
    random_negatives: int = Field(0, ge=0, description="random negatives per held-out event")
    C: float = Field(1.0, gt=0, description="inverse L2 strength of the logistic regression")
    objective: Literal["pairwise", "pointwise"] = Field(
        "pairwise", description="pairwise: rank the held-out item above its negatives; "
        "pointwise: classify items")
    seed: int = Field(0, description="seed of the hold-out and negative draws")
    early_users: int = Field(300, ge=0, description="users whose first early_events events "
                             "are kept out of the components' training to fit the weights "
                             "of short histories (0: one set of weights for everyone)")
    early_events: int = Field(20, ge=1, description="histories shorter than this are "
                              "scored by the short-history weights")
    early_buckets: list[int] = Field(default_factory=lambda: [0, 1, 6], description=
                                     "lower bounds of the short-history buckets (known "
                                     "events), ascending from 0, each with its own weights")
    stage_window: int = Field(3, ge=0, description="stage popularity at j known events "
                              "counts items that were event j +- this of training users")
    place_untrained: bool = Field(True, description="items the components saw no event "
                                  "for (ranked by their text alone) keep the sequence "
                                  "model's rank among the candidates instead of the fused "
                                  "score, whose weights were fitted on items with events")

    @field_validator("early_buckets")
    @classmethod
    def _ascending_buckets(cls, value: list[int]) -> list[int]:
        if not value or value[0] != 0 or sorted(set(value)) != value:
            raise ValueError(f"early_buckets must ascend from 0 without repeats, got {value}")
        return value

    @field_validator("signals")
    @classmethod
    def _known_signals(cls, value: list[str]) -> list[str]:
        bad = [s for s in value if s not in SIGNALS]
        if bad or not value:
            raise ValueError(f"signals must be a non-empty subset of {list(SIGNALS)}, "
                             f"got {value}")
        return [s for s in SIGNALS if s in value]

    @model_validator(mode="after")
    def _check_components(self) -> FusionConfig:
        # The components' own options are checked here, by their own classes, so that a
        # misspelled nested option fails before any training.
        for key, model in (("sequence", self.sequence_model), ("content", "content")):
            try:
                validate_config(model, getattr(self, key))
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
        return self


class FusedRecommender(Recommender):
    """Learned combination of the sequence model, the content model and item priors."""

    name: ClassVar[str] = "fused"
    handles_new_items: ClassVar[bool] = True
    config_class: ClassVar[type[ModelConfig]] = FusionConfig

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self.sequence: Recommender | None = None
        self.content: Recommender | None = None
        self.popularity = np.zeros(0, dtype=np.float32)
        self.recency = np.zeros(0, dtype=np.float32)
        self.coef = np.zeros(len(self.signals), dtype=np.float64)
        self.intercept = 0.0
        self.mean = np.zeros(len(self.signals), dtype=np.float64)
        self.scale = np.ones(len(self.signals), dtype=np.float64)
        self.fit_info: dict[str, Any] = {}
        self._rows: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        #: Weights of short histories (see ``models/early.py``); None: main weights only.
        self.early: EarlyWeights | None = None
        #: Items without an event in the components' training data (see ``place_untrained``).
        self.untrained = np.zeros(0, dtype=bool)

    @property
    def signals(self) -> list[str]:
        return list(self.config["signals"])

    @property
    def interest_config(self) -> InterestConfig:  # type: ignore[override]
        if self.content is not None:
            return self.content.interest_config
        return InterestConfig.from_dict(self.config["content"].get("interest"))

    @property
    def text_template(self) -> str | None:
        return self.config["content"].get("template")

    def _uses(self, group: tuple[str, ...]) -> bool:
        return any(s in group for s in self.signals)

    # -- training -------------------------------------------------------------------
    def fit(self, dataset: Dataset, *, item_embeddings: np.ndarray | None = None
            ) -> FusedRecommender:
        """Fit the components without the held-out events, then the fusion weights on them."""
        cfg = self.config
        self.item_ids = dataset.item_ids
        inner, held = holdout_last_events(dataset, cfg["holdout_users"], cfg["seed"])
        if held.empty:
            raise ValueError("fused model needs users with at least three events to learn "
                             "its weights; none were found")
        inner, prefixes = self._hold_out_prefixes(inner, held)
        needs_text = self._uses(CONTENT_SIGNALS) or (
            self._uses(SEQUENCE_SIGNALS) and cfg["sequence_model"] != "sasrec")
        if needs_text and item_embeddings is None:
            from driftrec.text.catalogue import embed_items

            item_embeddings = embed_items(dataset, cfg["encoder"], self.text_template)
        if self._uses(SEQUENCE_SIGNALS):
            seq_cfg = dict(cfg["sequence"])
            if cfg["sequence_model"] != "sasrec":
                seq_cfg.setdefault("encoder", cfg["encoder"])
            self.sequence = create_model(cfg["sequence_model"], **seq_cfg)
            # The fusion's held-out events also decide the sequence model's early stopping,
            # so that no further last events are taken out of its training data.
            self.sequence.fit(inner, item_embeddings=item_embeddings, valid_events=held)
        if self._uses(CONTENT_SIGNALS):
            self.content = create_model("content", **{"encoder": cfg["encoder"],
                                                      **cfg["content"]})
            self.content.fit(inner, item_vectors=item_embeddings)
        self.popularity, self.recency = item_priors(inner, item_embeddings)
        self.untrained = np.bincount(inner.events[ITEM_IDX].to_numpy(),
                                     minlength=self.n_items) == 0
        users = held[USER_IDX].to_numpy()
        histories = Histories.from_events(inner.events, users)
        x, y, group = self._training_rows(histories, held[ITEM_IDX].to_numpy())
        self._fit_weights(x, y, group)
        # Kept in memory (not saved) so that ablations can refit weights on the same rows.
        self._rows = (x, y, group)
        if prefixes is not None:
            self.early = self._fit_early(inner, *prefixes)
            self._prefixes = (inner, *prefixes)  # in memory only, for refits of variants
        # Serve with priors from every training event (the weights barely depend on them).
        self.popularity, self.recency = item_priors(dataset, item_embeddings)
        self.fit_info = {"holdout_events": len(held), "rows": len(y),
                         "positives": int(y.sum()),
                         "early_steps": 0 if prefixes is None else len(prefixes[1])}
        log.info("fusion weights (per standard deviation): %s", self.weights())
        return self

    def _fit_weights(self, x: np.ndarray, y: np.ndarray, group: np.ndarray) -> None:
        """The main weights: :func:`~driftrec.models.early.fit_logistic` on the rows."""
        self.coef, self.intercept, self.mean, self.scale = fit_logistic(
            x, y, group, C=self.config["C"], objective=self.config["objective"])

    def _hold_out_prefixes(self, inner: Dataset, held: Any
                           ) -> tuple[Dataset, tuple[Histories, np.ndarray] | None]:
        """Keep the first ``early_events`` events of ``early_users`` users (not among the
        last-event hold-outs) out of training; they become short-history steps."""
        cfg = self.config
        if not cfg["early_users"]:
            return inner, None
        ev = inner.events
        first = cfg["early_events"]
        counts = np.bincount(ev[USER_IDX].to_numpy(), minlength=inner.n_users)
        eligible = np.setdiff1d(np.flatnonzero(counts >= first + 2),
                                held[USER_IDX].to_numpy())
        if not len(eligible):
            return inner, None
        rng = np.random.default_rng(cfg["seed"] + 1)
        users = np.sort(rng.choice(eligible, size=min(cfg["early_users"], len(eligible)),
                                   replace=False))
        histories, targets = prefix_steps(ev, users, first)
        drop = ev[USER_IDX].isin(users).to_numpy() & (rank_in_user(ev) < first)
        return inner.with_events(ev[~drop]), (histories, targets)

    def _fit_early(self, inner: Dataset, histories: Histories, targets: np.ndarray
                   ) -> EarlyWeights:
        """One set of weights per history-length bucket, fitted on the prefix steps by a
        listwise objective: the next item against uniformly drawn items of the catalogue
        (a short history is fused over all of it, so its weights must rank all of it)."""
        cfg = self.config
        users = np.unique(histories.users)
        trained = inner.events[~inner.events[USER_IDX].isin(users)]
        stage = stage_popularity(trained, self.n_items, cfg["early_events"],
                                 cfg["stage_window"])
        upper = cfg["early_events"]
        early = EarlyWeights([], stage, upper,
                             early_transitions(trained, self.n_items, upper))
        signals = [*self.signals, STAGE_SIGNAL, TRANSITION_SIGNAL]
        rng = np.random.default_rng(cfg["seed"] + 2)
        lengths = np.fromiter((len(x) for x in histories.items), dtype=np.int64,
                              count=len(histories))
        lists = []
        for start in range(0, len(histories), 256):
            rows = np.arange(start, min(start + 256, len(histories)))
            part = histories.subset(rows)
            feats = self.features(part, all_items=True)
            feats[STAGE_SIGNAL] = early.stage_rows(lengths[rows])
            feats[TRANSITION_SIGNAL] = early.transition_rows(part)
            for r, i in enumerate(rows):
                banned = np.zeros(self.n_items, dtype=bool)
                banned[histories.items[i]] = True
                banned[targets[i]] = True
                pool = np.flatnonzero(~banned)
                neg = rng.choice(pool, size=min(EARLY_NEGATIVES, len(pool)), replace=False)
                cols = np.concatenate([[targets[i]], neg])
                lists.append(np.stack([feats[s][r, cols] for s in signals], axis=1))
        width = min(len(x) for x in lists)
        x = np.stack([a[:width] for a in lists]).astype(np.float64)
        bounds = [*cfg["early_buckets"], upper]
        for lo, hi in itertools.pairwise(bounds):
            rows = (lengths >= lo) & (lengths < hi)
            if not rows.any():
                continue
            coef, b, mean, scale = fit_listwise(x[rows], C=cfg["C"])
            early.buckets.append(BucketWeights(lo, signals, coef, b, mean, scale))
            log.info("short-history weights, %d-%d events: %s", lo, hi - 1,
                     {s: round(float(c), 3) for s, c in zip(signals, coef, strict=True)})
        return early

    def with_signals(self, signals: list[str]) -> FusedRecommender:
        """A copy using only ``signals``, its weights refitted on the same held-out rows.

        The components are shared, not retrained: this is how ablations stay cheap.
        """
        if getattr(self, "_rows", None) is None:
            raise RuntimeError("with_signals needs a model fitted in this process")
        missing = [s for s in signals if s not in self.signals]
        if missing:
            raise ValueError(f"signals {missing} are not in this model ({self.signals})")
        other = FusedRecommender(**{**self.config, "signals": signals})
        other.item_ids, other.fit_info = self.item_ids, dict(self.fit_info)
        other.sequence = self.sequence  # still the candidate generator
        other.content = self.content if other._uses(CONTENT_SIGNALS) else None
        other.popularity, other.recency = self.popularity, self.recency
        other.untrained = self.untrained
        x, y, group = self._rows
        cols = [self.signals.index(s) for s in other.signals]
        other._fit_weights(x[:, cols], y, group)
        other._rows = (x[:, cols], y, group)
        return other

    def _training_rows(self, histories: Histories, targets: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Feature rows of each held-out item and its negatives, 1/0 labels, user rows."""
        rng = np.random.default_rng(self.config["seed"])
        feats = self.features(histories, all_items=True)  # random negatives lie anywhere
        cands = feats.get(CANDIDATES)
        # Without a candidate stage, hard negatives come from the top of every user-specific
        # signal in equal shares: taking them from one signal alone would teach the model
        # to distrust that signal.
        ranked = [feats[s] for s in self.signals if s not in ITEM_SIGNALS] or [
            feats[s] for s in self.signals]
        per_signal = max(1, self.config["hard_negatives"] // len(ranked))
        rows: list[tuple[int, int]] = []
        labels: list[int] = []
        n_rand = self.config["random_negatives"]
        for r, (items, target) in enumerate(zip(histories.items, targets, strict=True)):
            banned = np.zeros(self.n_items, dtype=bool)
            banned[items] = True
            banned[target] = True
            if cands is not None:
                if not cands[r, target]:
                    continue  # the fused score only orders candidates: nothing to learn here
                hard = np.flatnonzero(cands[r] & ~banned)
            else:
                hard = np.concatenate([top_unbanned(f[r], banned, per_signal) for f in ranked])
            pool = np.flatnonzero(~banned)
            rand = rng.choice(pool, size=min(n_rand, len(pool)), replace=False)
            negatives = np.unique(np.concatenate([hard, rand]))
            rows.append((r, int(target)))
            labels.append(1)
            rows.extend((r, int(i)) for i in negatives)
            labels.extend([0] * len(negatives))
        if not rows:
            raise ValueError("no held-out item was among its user's candidates: raise "
                             "'candidates' or 'holdout_users'")
        idx = np.asarray(rows)
        x = np.stack([feats[s][idx[:, 0], idx[:, 1]] for s in self.signals], axis=1)
        return x.astype(np.float64), np.asarray(labels), idx[:, 0]

    # -- scoring --------------------------------------------------------------------
    def features(self, histories: Histories, *, all_items: bool = False
                 ) -> dict[str, np.ndarray]:
        """Each enabled signal as an ``(n, n_items)`` float32 array.

        With a candidate stage, the content signals are computed for the items that are a
        candidate of some row only (0 elsewhere): only candidates are fused, and this is
        most of the cost of scoring one user right after their event. ``all_items``
        computes them for every item (training rows drawn outside the candidates).
        """
        n = len(histories)
        out: dict[str, np.ndarray] = {}
        lengths = np.fromiter((len(x) for x in histories.items), dtype=np.int64, count=n)
        out[N_EVENTS] = lengths
        early_rows = (self.early.bucket_of(lengths) >= 0 if self.early is not None
                      else np.zeros(n, dtype=bool))
        side = None
        if self.sequence is not None:
            if self._uses(CONTENT_SIGNALS):
                # the network (which picks the candidates) runs on the helper thread while
                # the content model does its per-user work; then only candidates are scored
                running = in_background(self.sequence.score, histories)
                side = self._component(self.content).user_side(histories)
                raw = running.result()
            else:  # nothing to do meanwhile: no hop to the helper thread
                raw = self.sequence.score(histories)
            seq = log_softmax(raw)
            out[SEQUENCE_ORDER] = seq
            if "sequence" in self.signals:
                out["sequence"] = seq
            if self.config["candidates"] > 0:
                mask = candidate_mask(seq, histories, self.config["candidates"])
                # Short histories are fused over every unseen item.
                for r in np.flatnonzero(early_rows):
                    mask[r] = True
                    mask[r, histories.items[r]] = False
                out[CANDIDATES] = mask
        elif "sequence" in self.signals:
            self._component(None)
        if self._uses(CONTENT_SIGNALS):
            out.update(self._content_features(
                histories, None if all_items else out.get(CANDIDATES), side))
        if "popularity" in self.signals:
            out["popularity"] = np.broadcast_to(self.popularity, (n, self.n_items))
        if "recency" in self.signals:
            out["recency"] = np.broadcast_to(self.recency, (n, self.n_items))
        if self.early is not None:
            out[STAGE_SIGNAL] = self.early.stage_rows(lengths)
            out[TRANSITION_SIGNAL] = np.zeros((n, self.n_items), dtype=np.float32)
            if early_rows.any():
                out[TRANSITION_SIGNAL][early_rows] = self.early.transition_rows(
                    histories.subset(np.flatnonzero(early_rows)))
        return out

    def _content_features(self, histories: Histories, candidates: np.ndarray | None,
                          side: UserSide | None = None) -> dict[str, np.ndarray]:
        """The content component's signals, on the columns some row needs (``side``: the
        users' side, when computed already)."""
        from driftrec.interest.transfer import transfer_weight

        content = self._component(self.content)
        columns = None
        if candidates is not None:
            columns = np.flatnonzero(candidates.any(0))
            if len(columns) == self.n_items:
                columns = None
        sig = content.signals_for(content.user_side(histories) if side is None else side,
                                  columns)
        out = {}
        for name in CONTENT_SIGNALS:
            if name not in self.signals:
                continue
            if columns is None:
                out[name] = sig[name]
            else:
                out[name] = np.zeros((len(histories), self.n_items), dtype=np.float32)
                out[name][:, columns] = sig[name]
        if "transfer" in out:
            fade = transfer_weight(sig["n_events"], content.config["transfer_k0"])
            out["transfer"] = (out["transfer"] * fade[:, None]).astype(np.float32)
        return out

    def score(self, histories: Histories) -> np.ndarray:
        """The fused log-odds ``W . standardised features + b`` (sigmoid gives P)."""
        return self.score_features(self.features(histories))

    def score_features(self, feats: dict[str, np.ndarray]) -> np.ndarray:
        """The fused log-odds from precomputed :meth:`features` (extra keys are ignored)."""
        n = len(next(iter(feats.values())))
        out = np.full((n, self.n_items), self.intercept, dtype=np.float32)
        for j, name in enumerate(self.signals):
            w = self.coef[j] / self.scale[j]
            out += np.float32(w) * feats[name] - np.float32(w * self.mean[j])
        main = np.ones(n, dtype=bool)
        if self.early is not None and N_EVENTS in feats:
            bucket = self.early.bucket_of(feats[N_EVENTS])
            main = bucket < 0
            for b in np.unique(bucket[bucket >= 0]):
                rows = np.flatnonzero(bucket == b)
                out[rows] = self.early.buckets[b].logits(feats, rows)
        if CANDIDATES in feats and self._places_untrained():
            for r in np.flatnonzero(main):
                cands = np.flatnonzero(feats[CANDIDATES][r])
                out[r, cands] = place_untrained(out[r, cands], feats[SEQUENCE_ORDER][r, cands],
                                                self.untrained[cands])
        if CANDIDATES in feats:
            # below every candidate, in the order of the model that chose the candidates
            outside = ~feats[CANDIDATES]
            out[outside] = feats[SEQUENCE_ORDER][outside] - np.float32(OUTSIDE_OFFSET)
        return out

    def online_features(self, feats: dict[str, np.ndarray], row: int = 0
                        ) -> tuple[np.ndarray, np.ndarray | None, Placement | None]:
        """Candidate items of one history, their standardised main-weight features, which
        weights learned online re-score (None for a short history: its own weights are not
        learned online), and what :func:`place_untrained` needs to place the untrained
        ones among them after such a re-scoring (None: nothing to place)."""
        mask = feats.get(CANDIDATES)
        candidates = (np.flatnonzero(mask[row]) if mask is not None
                      else np.arange(self.n_items))
        if self.early is not None and self.early.bucket_of(feats[N_EVENTS][[row]])[0] >= 0:
            return candidates, None, None
        x = np.stack([np.asarray(feats[s][row, candidates], dtype=np.float64)
                      for s in self.signals], axis=1)
        placement = None
        if mask is not None and self._places_untrained() and self.untrained[candidates].any():
            placement = Placement(feats[SEQUENCE_ORDER][row, candidates],
                                  self.untrained[candidates])
        return candidates, (x - self.mean) / self.scale, placement

    def _places_untrained(self) -> bool:
        return bool(self.config["place_untrained"]) and bool(self.untrained.any())

    def weights(self) -> dict[str, float]:
        """Learned weight of each signal per standard deviation of it, plus the bias (the
        main weights; :attr:`early` holds the short-history ones)."""
        out = {name: float(w) for name, w in zip(self.signals, self.coef, strict=True)}
        out["bias"] = self.intercept
        return out

    def add_items(self, item_ids: list[str], text_embeddings: np.ndarray) -> None:
        """New items with text: scored by every component at once. Their popularity and
        recency are those of the nearest known item by text (with a content component,
        which holds the catalogue's text vectors), else 0 and the oldest recency."""
        emb = np.asarray(text_embeddings, dtype=np.float32)
        known = len(self.popularity)
        if self.sequence is not None:
            self.sequence.add_items(item_ids, emb)
        self.popularity = np.concatenate([self.popularity, np.zeros(len(item_ids), np.float32)])
        oldest = self.recency.min() if len(self.recency) else 0.0
        self.recency = np.concatenate([self.recency,
                                       np.full(len(item_ids), oldest, np.float32)])
        if self.content is not None:
            self.content.add_items(list(item_ids), emb)
            if known:
                proxy = cold_item_proxy(self.content.item_vectors,
                                        np.arange(len(self.popularity)) < known, COLD_NEIGHBORS)
                self.popularity = (proxy @ self.popularity).astype(np.float32)
                self.recency = (proxy @ self.recency).astype(np.float32)
        if self.early is not None:
            self.early.add_items(proxy if self.content is not None and known else None,
                                 len(item_ids))
        if len(self.untrained) == known:  # (a bundle saved before this was kept: none)
            self.untrained = np.concatenate([self.untrained, np.ones(len(item_ids), bool)])
        self.item_ids = np.concatenate([self.item_ids,
                                        np.asarray([str(i) for i in item_ids], dtype=object)])

    def _component(self, model: Recommender | None) -> Any:
        if model is None:
            raise RuntimeError("the fused model is not fitted; call fit() or load() first")
        return model

    # -- persistence ----------------------------------------------------------------
    def _save_state(self, directory: Path) -> None:
        if self.sequence is not None:
            self.sequence.save(directory / "sequence")
        if self.content is not None:
            self.content.save(directory / "content")
        np.save(directory / "popularity.npy", self.popularity)
        np.save(directory / "recency.npy", self.recency)
        np.save(directory / UNTRAINED_FILE, self.untrained)
        state = {"signals": self.signals, "coef": self.coef.tolist(),
                 "intercept": self.intercept, "mean": self.mean.tolist(),
                 "scale": self.scale.tolist(), "fit_info": self.fit_info}
        if self.early is not None:
            state["early"] = self.early.save(directory)
        (directory / FUSION_FILE).write_text(json.dumps(state, indent=2))

    def _load_state(self, directory: Path) -> None:
        state = json.loads((directory / FUSION_FILE).read_text())
        self.coef = np.asarray(state["coef"], dtype=np.float64)
        self.intercept = float(state["intercept"])
        self.mean = np.asarray(state["mean"], dtype=np.float64)
        self.scale = np.asarray(state["scale"], dtype=np.float64)
        self.fit_info = state.get("fit_info", {})
        self.popularity = np.load(directory / "popularity.npy")
        self.recency = np.load(directory / "recency.npy")
        # bundles saved before the mask was kept place nothing
        self.untrained = (np.load(directory / UNTRAINED_FILE)
                          if (directory / UNTRAINED_FILE).exists() else np.zeros(0, dtype=bool))
        if "early" in state:
            self.early = EarlyWeights.load(state["early"], directory)
        if (directory / "sequence").exists():
            self.sequence = Recommender.load(directory / "sequence")
        if (directory / "content").exists():
            self.content = Recommender.load(directory / "content")


def holdout_last_events(dataset: Dataset, n_users: int, seed: int
                        ) -> tuple[Dataset, Any]:
    """Remove the last event of up to ``n_users`` users with at least three events."""
    return holdout_sample(dataset, n_users, seed=seed, min_events=3)


def item_priors(dataset: Dataset, item_vectors: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """log(1 + event count) and -log(1 + days since the item's last event) per item.

    With ``item_vectors`` (text embeddings), an item without events takes both from its
    nearest item with events in text space; without, it gets 0 and the oldest recency.
    """
    ev = dataset.events
    counts = np.bincount(ev[ITEM_IDX].to_numpy(), minlength=dataset.n_items)
    popularity = np.log1p(counts).astype(np.float32)
    last = np.full(dataset.n_items, -np.inf)
    np.maximum.at(last, ev[ITEM_IDX].to_numpy(), ev[TIMESTAMP].to_numpy().astype(np.float64))
    now = float(ev[TIMESTAMP].max()) if len(ev) else 0.0
    oldest = float(ev[TIMESTAMP].min()) if len(ev) else 0.0
    last[~np.isfinite(last)] = oldest
    recency = -np.log1p(np.maximum(now - last, 0.0) / SECONDS_PER_DAY)
    if item_vectors is not None:
        proxy = cold_item_proxy(l2_normalise(item_vectors), counts > 0, COLD_NEIGHBORS)
        popularity, recency = proxy @ popularity, proxy @ recency
    return popularity.astype(np.float32), recency.astype(np.float32)


def candidate_mask(scores: np.ndarray, histories: Histories, k: int) -> np.ndarray:
    """``(n, n_items)`` bool: each row's ``k`` best-scored items not in its history."""
    masked = np.array(scores, dtype=np.float32, copy=True)
    for r, items in enumerate(histories.items):
        masked[r, items[(items >= 0) & (items < masked.shape[1])]] = -np.inf
    k = min(k, masked.shape[1])
    top = np.argpartition(-masked, k - 1, axis=1)[:, :k]
    mask = np.zeros(masked.shape, dtype=bool)
    np.put_along_axis(mask, top, True, axis=1)
    return mask & np.isfinite(masked)


@dataclass
class Placement:
    """One history's candidates as :func:`place_untrained` needs them."""

    sequence: np.ndarray
    untrained: np.ndarray


def place_untrained(fused: np.ndarray, sequence: np.ndarray, untrained: np.ndarray
                    ) -> np.ndarray:
    """One history's candidate scores with every ``untrained`` candidate moved to the
    place the sequence model gives it among the trained ones.

    The fusion weights are fitted on held-out events on items with training events, where
    popularity, recency and the neighbours' engagement speak for an item; an item without
    any is ranked by its text alone (the sequence model's text projection), and the fused
    score pushes it down for signals it cannot have. So the trained candidates keep their
    fused order, and an untrained one goes between the trained ones the sequence model
    ranks just above and just below it (untrained ones in one gap in the sequence model's
    order). Returns a new array; the scores stay on the fused log-odds scale.
    """
    cold = np.flatnonzero(untrained)
    warm = np.flatnonzero(~untrained)
    if not len(cold) or not len(warm):
        return fused
    out = np.array(fused, dtype=np.float64)
    ranked = np.sort(out[warm])[::-1]  # trained candidates' fused scores, best first
    # how many trained candidates the sequence model ranks above each untrained one
    above = len(warm) - np.searchsorted(np.sort(sequence[warm]), sequence[cold], side="right")
    step = max(float(ranked[0] - ranked[-1]), 1.0) / len(ranked)
    upper = np.where(above > 0, ranked[np.maximum(above - 1, 0)], ranked[0] + step)
    lower = np.where(above < len(warm), ranked[np.minimum(above, len(warm) - 1)],
                     ranked[-1] - step)
    # untrained candidates sharing a gap are spread over it in the sequence model's order
    order = np.lexsort((-sequence[cold], above))
    gap_rank = np.empty(len(cold), dtype=np.int64)
    starts = np.searchsorted(above[order], above[order], side="left")
    gap_rank[order] = np.arange(len(cold)) - starts
    gap_size = np.bincount(above, minlength=len(warm) + 1)[above]
    out[cold] = upper - (upper - lower) * (gap_rank + 1) / (gap_size + 1)
    return out.astype(np.float32)


def log_softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax: makes one user's scores comparable with another's."""
    scores = np.asarray(scores, dtype=np.float64)
    top = scores.max(1, keepdims=True)
    lse = top + np.log(np.exp(scores - top).sum(1, keepdims=True))
    return (scores - lse).astype(np.float32)
