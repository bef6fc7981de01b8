"""Turning item-index sequences into padded tensors and length-bucketed batches.

Batches group users of similar length so that short histories are not padded to the
longest one: on ML-1M this roughly halves the transformer's work per epoch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def right_align(seqs: Sequence[np.ndarray], max_len: int) -> torch.Tensor:
    """``(B, L)`` int64 tensor of the last ``max_len`` items of each sequence, shifted by
    one (0 is padding) and right-aligned; ``L`` is the longest kept length (at least 1)."""
    length = max(1, min(max_len, max((len(s) for s in seqs), default=1)))
    out = np.zeros((len(seqs), length), dtype=np.int64)
    for row, seq in enumerate(seqs):
        tail = np.asarray(seq[-length:], dtype=np.int64) if len(seq) else ()
        if len(tail):
            out[row, length - len(tail):] = np.asarray(tail) + 1
    return torch.from_numpy(out)


def length_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Row indices in batches of similar length, batch order shuffled."""
    order = np.lexsort((rng.random(len(lengths)), lengths))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches
