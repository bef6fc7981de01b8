"""Training across processes with torch.distributed DistributedDataParallel (gloo).

Every process runs the same command (``torchrun --nproc-per-node N --no-python driftrec
train ...``): each loads the data, sees the same seeded batches and computes the gradient
of its own shard of every batch; DDP sums the shards' gradients, so every process takes
the same optimiser step. A run on N processes equals a single-process run with
``threads = N`` up to float rounding: the same shards, each with the same dropout stream
(``seed * 1000 + rank``), weighted by its share of target positions.

Decisions that must not differ between processes are taken together: stopping (time
budget, Ctrl-C) is agreed on before every step, and validation NDCG@10 is computed on
one slice of the validation users per process and summed. Only rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

log = logging.getLogger(__name__)


def world() -> tuple[int, int]:
    """``(rank, world size)`` of this process; ``(0, 1)`` outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    """Whether this process writes files and shows progress (rank 0, or no group)."""
    return world()[0] == 0


@contextlib.contextmanager
def process_group(timeout_s: float = 1800) -> Iterator[tuple[int, int]]:
    """Join the process group that ``torchrun`` describes in the environment (``RANK``,
    ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``), over gloo; a no-op when
    ``WORLD_SIZE`` is unset or 1. Each process keeps ``cores / local processes`` threads.
    Yields ``(rank, world size)``."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1 or dist.is_initialized():
        yield world()
        return
    dist.init_process_group("gloo", timeout=timedelta(seconds=timeout_s))
    local = int(os.environ.get("LOCAL_WORLD_SIZE", size))
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // local))
    rank = dist.get_rank()
    log.info("process %d of %d joined the training group (gloo)", rank, size)
    try:
        yield rank, size
    finally:
        dist.destroy_process_group()


class ShardLoss(nn.Module):
    """The network's loss on a list of sequences, as the module DDP wraps (its backward
    pass is where DDP sums gradients across processes)."""

    def __init__(self, net: nn.Module, loss_fn) -> None:
        super().__init__()
        self.net = net
        self.loss_fn = loss_fn

    def forward(self, shard: list[np.ndarray]) -> torch.Tensor:
        return self.loss_fn(self.net, shard)


def data_parallel(net: nn.Module, loss_fn) -> DistributedDataParallel:
    """``net``'s loss wrapped for gradient summation across the process group. Buffers (the
    text embeddings) never change in training: synced once at the start, not per step."""
    return DistributedDataParallel(ShardLoss(net, loss_fn), forward_sync_buffers=False)


def all_sum(values: list[float]) -> list[float]:
    """Element-wise sum over every process (float64)."""
    tensor = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


def all_max(values: list[float]) -> list[float]:
    """Element-wise maximum over every process, so each takes the same decision."""
    tensor = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tensor.tolist()


@contextlib.contextmanager
def interrupt_flag() -> Iterator[threading.Event]:
    """Ctrl-C sets the yielded flag instead of raising, so that every process stops at the
    same agreed step (a process that raised mid-step would leave the others waiting in a
    collective). Outside the main thread the handler cannot be installed; the flag then
    only follows the caller."""
    flag = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.signal(signal.SIGINT, lambda *_: flag.set())
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)
