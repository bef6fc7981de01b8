"""Hyper-parameters of the sequence model as one plain, JSON-safe record.

Kept as a dataclass of numbers and strings so that it can live in ``model.json`` and in a
``torch.load(weights_only=True)`` checkpoint without pickling any Python object.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

SIMILARITIES = ("dot", "cosine")
LR_SCHEDULES = ("constant", "cosine")
WINDOWS = ("last", "random")


@dataclass
class SequenceConfig:
    """Architecture and training settings; defaults are tuned for ML-1M on a 2-core CPU."""

    #: Use the item's language-model text embedding as part of its representation.
    use_text: bool = True
    max_len: int = 200
    #: How training cuts a history longer than ``max_len + 1`` events: ``last`` keeps its
    #: most recent window; ``random`` takes a window ending at a random event each epoch,
    #: so that every event is trained on (on ML-1M the last windows hold 66% of events).
    window: str = "last"
    hidden: int = 64
    #: Four blocks of two heads: against two blocks of one they cost half as much again per
    #: epoch, and on ML-1M they lifted validation NDCG@10 from .188 to .195 within the same
    #: time budget (``benchmarks/fused-deep.toml``).
    n_layers: int = 4
    n_heads: int = 2
    ffn_mult: int = 2
    dropout: float = 0.2
    #: ``dot``: logits are dot products with the item table; ``cosine``: both sides are
    #: L2-normalised and divided by ``temperature`` (bounded logits, less popularity bias).
    similarity: str = "dot"
    temperature: float = 0.05
    #: Probability of dropping an item's ID embedding in training, so that the text
    #: projection alone must carry meaning (what an unseen item has). On ML-1M (20-epoch
    #: cold-item protocol) 0.2 raised cold-target HR@50 from .043 to .163 and cost 3-4% of
    #: all-target HR@10 / NDCG@10, so it is off by default.
    id_dropout: float = 0.0
    #: Softmax over items with training events only; items without events keep a zero ID
    #: row and are ranked by their text (as new items added after training are).
    softmax_trained_only: bool = True
    lr: float = 3e-3
    #: Optimiser steps of linear learning-rate warm-up.
    warmup_steps: int = 200
    #: After warm-up: ``constant``, or ``cosine`` decay to zero at ``max_epochs`` (or when
    #: the time budget runs out, if that comes first).
    lr_schedule: str = "cosine"
    weight_decay: float = 0.1
    batch_size: int = 64
    max_epochs: int = 200
    #: Stop after this many validation checks without improvement (under the cosine
    #: schedule, counted once the rate has decayed to half its peak).
    patience: int = 10
    #: Also stop after this many checks without improvement at any rate (0: never). On a
    #: small dataset validation peaks early, while the rate is still high, and patience
    #: alone would run on to half the decay (ML-100K: best epoch 30-46, stopped at 126);
    #: on ML-1M the longest stall seen at a high rate was 10 checks.
    stall_limit: int = 20
    #: Validate every ``eval_every`` epochs (on at most ``valid_users`` users).
    eval_every: int = 2
    valid_users: int = 2000
    #: Wall-clock training limit in minutes (0: none); the best epoch so far is kept.
    time_budget_min: float = 42.0
    seed: int = 42
    #: Training threads (0: every CPU core, at most 4): each batch is cut into this many
    #: shards whose gradients are computed in parallel, one core each. Results are
    #: reproducible for the same seed and ``threads``. On a machine shared with other jobs,
    #: set fewer: a shard waiting for a busy core holds up the whole step.
    threads: int = 0
    #: Networks trained side by side in parallel from different seeds (seed, seed + 1,
    #: ...), each on ``threads / members`` cores (at least one), whose logits are averaged
    #: when scoring: two independently trained networks rank better than either, at the
    #: cost of fewer epochs each within the same time budget.
    members: int = 1
    #: bfloat16 inputs for the catalogue-softmax matrix products (fast with AVX512-BF16).
    #: ``None``: on when the CPU has AVX512-BF16.
    bf16: bool | None = None
    #: Name of the text encoder whose item embeddings were used (recorded, not loaded).
    encoder: str = ""

    def __post_init__(self) -> None:
        if self.bf16 is None:
            self.bf16 = cpu_has_bf16()
        rules = {
            "max_len": (self.max_len >= 1, "must be at least 1"),
            "window": (self.window in WINDOWS, f"must be one of {WINDOWS}"),
            "hidden": (self.hidden >= 1 and self.hidden % max(1, self.n_heads) == 0,
                       "must be positive and divisible by n_heads"),
            "threads": (self.threads >= 0, "must be 0 (every core) or more"),
            "members": (self.members >= 1, "must be at least 1"),
            "n_layers": (self.n_layers >= 0, "must be 0 or more"),
            "n_heads": (self.n_heads >= 1, "must be at least 1"),
            "ffn_mult": (self.ffn_mult >= 1, "must be at least 1"),
            "dropout": (0.0 <= self.dropout < 1.0, "must be in [0, 1)"),
            "id_dropout": (0.0 <= self.id_dropout < 1.0, "must be in [0, 1)"),
            "similarity": (self.similarity in SIMILARITIES, f"must be one of {SIMILARITIES}"),
            "temperature": (self.temperature > 0, "must be positive"),
            "lr": (self.lr > 0, "must be positive"),
            "lr_schedule": (self.lr_schedule in LR_SCHEDULES, f"must be one of {LR_SCHEDULES}"),
            "batch_size": (self.batch_size >= 1, "must be at least 1"),
            "max_epochs": (self.max_epochs >= 1, "must be at least 1"),
            "patience": (self.patience >= 1, "must be at least 1"),
            "stall_limit": (self.stall_limit >= 0, "must be 0 (never) or more"),
            "eval_every": (self.eval_every >= 1, "must be at least 1"),
            "valid_users": (self.valid_users >= 0, "must be 0 or more"),
        }
        problems = [f"{key}={getattr(self, key)!r} {why}"
                    for key, (ok, why) in rules.items() if not ok]
        if problems:
            raise ValueError("invalid sequence model setting(s): " + "; ".join(problems))

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SequenceConfig:
        """Build from a dict, naming any key that is not a setting."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"unknown sequence model setting(s) {unknown}; known: {sorted(known)}")
        return cls(**raw)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def cpu_has_bf16() -> bool:
    """Whether the CPU multiplies bfloat16 natively (else bf16 products are slower)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as f:
            return any("avx512_bf16" in line or "amx_bf16" in line
                       for line in f if line.startswith("flags"))
    except OSError:
        return False
