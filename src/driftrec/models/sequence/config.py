"""Hyper-parameters of the sequence model as one plain, JSON-safe record.

Only numbers, booleans and strings, so that ``to_dict()`` can live in ``model.json`` and in
a ``torch.load(weights_only=True)`` checkpoint without pickling any Python object. This
module imports no torch: options are checked and listed without it.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import Field, field_validator, model_validator

from driftrec.models.config import ModelConfig

Similarity = Literal["dot", "cosine"]
LrSchedule = Literal["constant", "cosine"]
Window = Literal["last", "random"]
SIMILARITIES: tuple[str, ...] = get_args(Similarity)
LR_SCHEDULES: tuple[str, ...] = get_args(LrSchedule)
WINDOWS: tuple[str, ...] = get_args(Window)


class SequenceConfig(ModelConfig):
    """Options of the sequence model (``sasrec-text``); defaults are tuned for ML-1M on a
    2-core CPU."""

    use_text: bool = Field(True, description="use the item's language-model text embedding "
                           "as part of its representation")
    max_len: int = Field(200, ge=1, description="most recent items of a history the model "
                         "reads")
    #: How training cuts a history longer than ``max_len + 1`` events: ``last`` keeps its
    #: most recent window; ``random`` takes a window ending at a random event each epoch,
    #: so that every event is trained on (on ML-1M the last windows hold 66% of events).
    window: Window = Field(
        "last", description="training window of a long history: its last one, or one "
        "ending at a random event each epoch")
    hidden: int = Field(64, ge=1, description="embedding and transformer width (divisible "
                        "by n_heads)")
    #: Four blocks of two heads: against two blocks of one they cost half as much again per
    #: epoch, and on ML-1M they lifted validation NDCG@10 from .188 to .195 within the same
    #: time budget (``benchmarks/fused-deep.toml``).
    n_layers: int = Field(4, ge=0, description="transformer blocks")
    n_heads: int = Field(2, ge=1, description="attention heads per block")
    ffn_mult: int = Field(2, ge=1, description="feed-forward width as a multiple of hidden")
    dropout: float = Field(0.2, ge=0.0, lt=1.0, description="dropout probability")
    #: ``dot``: logits are dot products with the item table; ``cosine``: both sides are
    #: L2-normalised and divided by ``temperature`` (bounded logits, less popularity bias).
    similarity: Similarity = Field(
        "dot", description="logits: dot products with the item table, or cosines divided "
        "by temperature")
    temperature: float = Field(0.05, gt=0, description="divisor of cosine logits")
    #: Probability of dropping an item's ID embedding in training, so that the text
    #: projection alone must carry meaning (what an unseen item has). On ML-1M (20-epoch
    #: cold-item protocol) 0.2 raised cold-target HR@50 from .043 to .163 and cost 3-4% of
    #: all-target HR@10 / NDCG@10, so it is off by default.
    id_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="probability of dropping an "
                              "item's ID embedding in training (text must carry meaning)")
    #: Softmax over items with training events only; items without events keep a zero ID
    #: row and are ranked by their text (as new items added after training are).
    softmax_trained_only: bool = Field(True, description="softmax over items with training "
                                       "events only (others are ranked by their text)")
    #: A history scored from the start (a new user's first events) looks like nothing the
    #: last-window training shows: its positions, counted from the end, hold a user's
    #: *first* items with nothing before them. Each epoch adds, per user, this many of the
    #: user's first ``m`` events (``m`` drawn from 2 to ``prefix_events + 1``) as extra
    #: training sequences, so that the network learns how first events go on.
    short_prefixes: int = Field(0, ge=0, description="extra training sequences per user and "
                                "epoch: the user's first few events (0: none)")
    prefix_events: int = Field(20, ge=1, description="longest such prefix, in known events")
    lr: float = Field(3e-3, gt=0, description="peak learning rate")
    warmup_steps: int = Field(200, ge=0, description="optimiser steps of linear learning-rate "
                              "warm-up")
    #: After warm-up: ``constant``, or ``cosine`` decay to zero at ``max_epochs`` (or when
    #: the time budget runs out, if that comes first).
    lr_schedule: LrSchedule = Field(
        "cosine", description="after warm-up: constant, or cosine decay to zero")
    weight_decay: float = Field(0.1, ge=0, description="AdamW weight decay")
    batch_size: int = Field(64, ge=1, description="sequences per optimiser step")
    max_epochs: int = Field(200, ge=1, description="most training epochs")
    #: Stop after this many validation checks without improvement (under the cosine
    #: schedule, counted once the rate has decayed to half its peak).
    patience: int = Field(10, ge=1, description="validation checks without improvement "
                          "before stopping")
    #: Also stop after this many checks without improvement at any rate (0: never). On a
    #: small dataset validation peaks early, while the rate is still high, and patience
    #: alone would run on to half the decay (ML-100K: best epoch 30-46, stopped at 126);
    #: on ML-1M the longest stall seen at a high rate was 10 checks.
    stall_limit: int = Field(20, ge=0, description="checks without improvement at any rate "
                             "before stopping (0: never)")
    eval_every: int = Field(2, ge=1, description="epochs between validation checks")
    valid_users: int = Field(2000, ge=0, description="users validated on (their last event "
                             "held out)")
    time_budget_min: float = Field(42.0, ge=0, description="wall-clock training limit in "
                                   "minutes, the best epoch kept (0: none)")
    seed: int = Field(42, description="seed of weights, batches and hold-out")
    #: Training threads (0: every CPU core, at most 4): each batch is cut into this many
    #: shards whose gradients are computed in parallel, one core each. Results are
    #: reproducible for the same seed and ``threads``. On a machine shared with other jobs,
    #: set fewer: a shard waiting for a busy core holds up the whole step.
    threads: int = Field(0, ge=0, description="training threads, one batch shard each "
                         "(0: every core, at most 4)")
    #: Networks trained side by side in parallel from different seeds (seed, seed + 1,
    #: ...), each on ``threads / members`` cores (at least one), whose logits are averaged
    #: when scoring: two independently trained networks rank better than either, at the
    #: cost of fewer epochs each within the same time budget.
    members: int = Field(1, ge=1, description="networks trained from seeds seed, seed + 1, "
                         "... whose logits are averaged")
    #: bfloat16 inputs for the catalogue-softmax matrix products (fast with AVX512-BF16).
    #: ``None``: on when the CPU has AVX512-BF16.
    bf16: bool | None = Field(None, validate_default=True, description="bfloat16 "
                              "catalogue-softmax products (None: when the CPU has "
                              "AVX512-BF16)")
    encoder: str = Field("", description="text encoder of the item embeddings (recorded; "
                         "empty: the default encoder)")

    @field_validator("bf16")
    @classmethod
    def _resolve_bf16(cls, value: bool | None) -> bool:
        return cpu_has_bf16() if value is None else value

    @model_validator(mode="after")
    def _heads_divide_hidden(self) -> SequenceConfig:
        if self.hidden % self.n_heads:
            raise ValueError(f"hidden={self.hidden} must be divisible by "
                             f"n_heads={self.n_heads}")
        return self

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SequenceConfig:
        """Build from a dict, naming any key that is not a setting."""
        return cls.resolve("sequence", raw)


class SASRecConfig(SequenceConfig):
    """Options of the ID-only sequence model (``sasrec``): text is off by default."""

    use_text: bool = Field(False, description="use the item's language-model text embedding "
                           "as part of its representation")


def cpu_has_bf16() -> bool:
    """Whether the CPU multiplies bfloat16 natively (else bf16 products are slower)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as f:
            return any("avx512_bf16" in line or "amx_bf16" in line
                       for line in f if line.startswith("flags"))
    except OSError:
        return False
