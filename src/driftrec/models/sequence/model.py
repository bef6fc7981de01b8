"""The sequence recommender: fit on event sequences, score any history, accept new items.

``score`` reads the last ``max_len`` items of each history, so the live interest state's
recent sequence is the input and every new event changes the next recommendation without
retraining. Checkpoints are plain tensors, strings and numbers (``weights_only=True``).
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch

from driftrec.data.dataset import Dataset, Histories
from driftrec.data.splits import holdout_sample
from driftrec.models.base import Recommender
from driftrec.models.sequence.batching import right_align
from driftrec.models.sequence.config import SASRecConfig, SequenceConfig
from driftrec.models.sequence.network import SequenceEnsemble, SequenceNet, build_network
from driftrec.models.sequence.training import (
    TrainReport,
    fit_network,
    given_holdout,
)

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "sequence.pt"


class SequenceRecommender(Recommender):
    """Causal transformer over item sequences; items are ID embedding + projected text."""

    name: ClassVar[str] = "sasrec-text"
    handles_new_items: ClassVar[bool] = True
    config_class: ClassVar[type[SequenceConfig]] = SequenceConfig

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self.net: SequenceNet | SequenceEnsemble | None = None
        self.report: TrainReport | None = None
        self.show_progress = True

    @property
    def cfg(self) -> SequenceConfig:
        """The options, typed (:attr:`settings`)."""
        return self.settings  # type: ignore[return-value]

    # -- training -------------------------------------------------------------------
    def fit(
        self,
        dataset: Dataset,
        *,
        item_embeddings: np.ndarray | None = None,
        valid_events: pd.DataFrame | None = None,
    ) -> SequenceRecommender:
        """Train on ``dataset.events``; ``item_embeddings`` (n_items, d) skips the encoder.

        ``valid_events`` (one next event per user, not in ``dataset``) are the early-stopping
        targets; without them the last event of ``valid_users`` users is held out.
        """
        cfg = self.cfg
        torch.manual_seed(cfg.seed)
        text = self._item_text(dataset, item_embeddings) if cfg.use_text else None
        self.item_ids = dataset.item_ids
        self.net = self._build(dataset.n_items, text)
        if valid_events is None:
            dataset, valid_events = holdout_sample(dataset, cfg.valid_users, seed=cfg.seed)
        histories = Histories.from_events(dataset.events)
        seqs = histories.items
        train_seqs, holdout = seqs, given_holdout(histories, valid_events)
        log.info(
            "training %s on %d users, %d items (text: %s)",
            self.name, len(seqs), dataset.n_items, "yes" if text is not None else "no",
        )
        intra_op_threads = torch.get_num_threads()
        torch.set_num_threads(1)  # parallelism comes from batch shards, one core each
        try:
            self.report = fit_network(self.net, train_seqs, holdout, cfg,
                                      show_progress=self.show_progress)
        finally:
            torch.set_num_threads(intra_op_threads)
        log.info(
            "trained %d epochs in %.0fs (best valid NDCG@10 %.4f at epoch %d, stopped by %s)",
            self.report.epochs, self.report.seconds, self.report.best_ndcg10,
            self.report.best_epoch, self.report.stopped_by,
        )
        return self

    def _item_text(self, dataset: Dataset, given: np.ndarray | None) -> torch.Tensor:
        if given is None:
            from driftrec.text.catalogue import embed_items
            from driftrec.text.encoders import get_encoder

            encoder = get_encoder(self.cfg.encoder or None)
            given = embed_items(dataset, encoder, progress=self.show_progress)
            self.settings = self.cfg.replace(encoder=encoder.name)
        given = np.asarray(given, dtype=np.float32)
        if given.ndim != 2 or given.shape[0] != dataset.n_items:
            raise ValueError(
                f"item_embeddings must have shape ({dataset.n_items}, d), got {given.shape}"
            )
        if not np.isfinite(given).all():
            raise ValueError("item_embeddings contain NaN or infinite values")
        return torch.from_numpy(given)

    def _build(self, n_items: int, text: torch.Tensor | None
               ) -> SequenceNet | SequenceEnsemble:
        return build_network(self.cfg, n_items, text)

    # -- serving --------------------------------------------------------------------
    def _require_net(self) -> SequenceNet | SequenceEnsemble:
        if self.net is None:
            raise RuntimeError(f"{self.name} is not fitted: call fit() or load() first")
        return self.net

    @torch.inference_mode()
    def score(self, histories: Histories, batch_size: int = 512) -> np.ndarray:
        """Scores over the catalogue from the last ``max_len`` known items of each history."""
        net = self._require_net()
        if net.training:  # walking every module costs about 0.5 ms a call while serving
            net.eval()
        out = np.empty((len(histories), self.n_items), dtype=np.float32)
        for start in range(0, len(histories), batch_size):
            chunk = [
                np.asarray(h[(h >= 0) & (h < self.n_items)], dtype=np.int64)
                for h in histories.items[start : start + batch_size]
            ]
            out[start : start + len(chunk)] = net.score_last(right_align(chunk, self.cfg.max_len))
        return out

    def add_items(
        self, item_ids: list[str] | np.ndarray, text_embeddings: np.ndarray | None
    ) -> None:
        """Make new items scorable after training; with text they get meaningful scores."""
        net = self._require_net()
        item_ids = np.asarray([str(x) for x in item_ids], dtype=object)
        clash = set(item_ids) & set(map(str, self.item_ids))
        if clash:
            raise ValueError(f"items already in the catalogue: {sorted(clash)[:5]}")
        if self.cfg.use_text and text_embeddings is None:
            raise ValueError("this model uses text: pass text_embeddings for the new items")
        text = None if text_embeddings is None else torch.from_numpy(
            np.asarray(text_embeddings, dtype=np.float32)
        )
        net.add_items(text, len(item_ids))
        self.item_ids = np.concatenate([self.item_ids, item_ids])

    # -- persistence ----------------------------------------------------------------
    def checkpoint(self) -> dict[str, Any]:
        """Weights, vocabulary, config and encoder name as plain data."""
        net = self._require_net()
        return {
            "format": 1,
            "model": self.name,
            "config": self.cfg.to_dict(),
            "encoder": self.cfg.encoder,
            "item_ids": [str(x) for x in self.item_ids],
            "state_dict": {k: v.detach().clone() for k, v in net.state_dict().items()},
            "report": asdict(self.report) if self.report is not None else {},
        }

    def _save_state(self, directory: Path) -> None:
        torch.save(self.checkpoint(), directory / CHECKPOINT_FILE)

    def _load_state(self, directory: Path) -> None:
        self.load_checkpoint(directory / CHECKPOINT_FILE)

    def load_checkpoint(self, path: str | Path) -> None:
        """Restore from a file written by ``save``, without unpickling any object."""
        ckpt = torch.load(path, weights_only=True, map_location="cpu")
        self.settings = self.config_class.from_saved(self.name, ckpt["config"])
        self.item_ids = np.asarray(ckpt["item_ids"], dtype=object)
        state = ckpt["state_dict"]
        prefix = "members.0." if self.cfg.members > 1 else ""
        text = state.get(prefix + "items.text")
        has_text = self.cfg.use_text and text is not None and text.shape[1] > 0
        n_items = state[prefix + "items.id_emb.weight"].shape[0] - 1
        net = self._build(n_items, text[1:] if has_text else None)
        net.load_state_dict(state)
        net.eval()
        self.net = net
        report = ckpt.get("report") or {}
        self.report = TrainReport(**report) if report else None


class SASRec(SequenceRecommender):
    """ID-only variant: the same transformer without text features (the ablation)."""

    name: ClassVar[str] = "sasrec"
    handles_new_items: ClassVar[bool] = False
    config_class: ClassVar[type[SequenceConfig]] = SASRecConfig


class SASRecText(SequenceRecommender):
    """ID + language-model text features: new items with text get meaningful scores."""

    name: ClassVar[str] = "sasrec-text"
