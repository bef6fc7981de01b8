"""Training loop: full-softmax cross-entropy at every position, early stopping on NDCG@10.

One right-aligned window per user with a loss at every position (SASRec with
cross-entropy over the whole catalogue, as in Klenitskiy & Vasilev, RecSys 2023). The
best weights by validation NDCG@10 are kept; Ctrl-C or the time budget stop training
and keep them.

Each batch is split into ``threads`` shards whose gradients are computed in parallel
threads, one core each, and summed in shard order, each shard with its own seeded dropout
stream. Speed against one batch on multi-threaded kernels: ``bench_training_threads.py``.
An ensemble's members train in parallel threads, each with its share of the cores.
Under ``torchrun`` the shards are processes instead (:mod:`.distributed`): the same
shards and dropout streams, gradients summed by DistributedDataParallel.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from driftrec.data.dataset import Histories
from driftrec.data.schema import ITEM_IDX, USER_IDX
from driftrec.evaluation import metrics
from driftrec.models.sequence import distributed
from driftrec.models.sequence.batching import length_batches, right_align
from driftrec.models.sequence.config import SequenceConfig
from driftrec.models.sequence.loss import softmax_cross_entropy
from driftrec.models.sequence.network import SequenceEnsemble, SequenceNet, random_source

log = logging.getLogger(__name__)


@dataclass
class Holdout:
    """Validation users: their input sequences, held-out next item and items to exclude."""

    inputs: list[np.ndarray]
    targets: np.ndarray


@dataclass
class TrainReport:
    """What happened in training, for logs, benchmarks and ``model.json``.

    For an ensemble: ``epochs`` and ``best_epoch`` are the largest over its members,
    ``best_ndcg10`` is the whole ensemble's validation NDCG@10, ``stopped_by`` joins the
    members' reasons, and ``members`` holds each member's own report.
    """

    epochs: int = 0
    best_epoch: int = 0
    best_ndcg10: float = float("nan")
    seconds: float = 0.0
    stopped_by: str = "max_epochs"
    history: list[dict[str, float]] = field(default_factory=list)
    members: list[dict[str, Any]] = field(default_factory=list)


def given_holdout(histories: Histories, valid_events: pd.DataFrame) -> Holdout | None:
    """Validation from known next events: each user's history, then the event's item.

    The events come from the one hold-out of :mod:`driftrec.data.splits`
    (:func:`~driftrec.data.splits.holdout_sample`), or from the caller (the fused model's).
    """
    row_of = {int(u): r for r, u in enumerate(histories.users)}
    inputs, targets = [], []
    for user, item in zip(valid_events[USER_IDX].to_numpy(), valid_events[ITEM_IDX].to_numpy(),
                          strict=True):
        row = row_of.get(int(user))
        if row is not None and len(histories.items[row]):
            inputs.append(histories.items[row])
            targets.append(int(item))
    if not targets:
        return None
    return Holdout(inputs, np.asarray(targets, dtype=np.int64))


def sequence_loss(
    net: SequenceNet,
    batch: list[np.ndarray],
    max_len: int,
    bf16: bool = False,
    softmax_items: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean cross-entropy of the next item at every position.

    The softmax runs over ``softmax_items`` (item indices; default: the whole catalogue).
    Leaving out items with no training events keeps them from being pushed down as
    negatives in every step, so that their text alone can rank them later.
    """
    windows = [s[-(max_len + 1):] for s in batch]
    inputs = right_align([w[:-1] for w in windows], max_len)
    targets = right_align([w[1:] for w in windows], max_len)
    table = net.items()
    hidden = net.encode(inputs, table)
    keep = targets > 0
    queries, item_table = net.logit_factors(hidden[keep], table[1:])
    target_idx = targets[keep] - 1
    if softmax_items is not None:
        position = torch.full((table.shape[0] - 1,), -1, dtype=torch.long)
        position[softmax_items] = torch.arange(len(softmax_items))
        item_table, target_idx = item_table[softmax_items], position[target_idx]
    return softmax_cross_entropy(queries, item_table, target_idx, bf16=bf16)


def random_windows(
    seqs: list[np.ndarray], size: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Each sequence longer than ``size`` cut to ``size`` events ending at a random event
    (uniform over the possible ends); shorter ones unchanged."""
    out = []
    for seq in seqs:
        if len(seq) > size:
            end = int(rng.integers(size, len(seq) + 1))
            seq = seq[end - size : end]
        out.append(seq)
    return out


#: Events a sequence needs to give prefixes: two to train on, and one after them.
PREFIX_SOURCE_EVENTS = 3


def short_prefixes(seqs: list[np.ndarray], per_user: int, longest: int,
                   rng: np.random.Generator) -> list[np.ndarray]:
    """``per_user`` prefixes of each sequence of at least ``PREFIX_SOURCE_EVENTS`` events:
    its first ``m`` events, ``m`` uniform in 2 .. ``longest + 1`` (at most the whole
    sequence less one)."""
    out = []
    for seq in seqs:
        if len(seq) < PREFIX_SOURCE_EVENTS:
            continue
        top = min(longest + 1, len(seq) - 1)
        for m in rng.integers(2, top + 1, size=per_user):
            out.append(seq[:m])
    return out


def epoch_batches(users: list[np.ndarray], cfg: SequenceConfig, rng: np.random.Generator
                  ) -> tuple[list[np.ndarray], list[tuple[np.ndarray, float | None]]]:
    """One epoch's sequences (the users', then ``short_prefixes`` of them) and its batches
    in training order: row indices, and the weight of a batch of prefixes (None for a
    batch of whole histories).

    Prefixes are short, so a batch of them holds far fewer next-item targets than a batch
    of whole histories; its gradient is scaled by that ratio, so that every target counts
    the same over the epoch (as if the prefixes were part of the users' batches) instead
    of each prefix batch moving the weights as far as a batch of whole histories.
    """
    lengths = np.asarray([min(len(s) - 1, cfg.max_len) for s in users])
    batches: list[tuple[np.ndarray, float | None]] = [
        (b, None) for b in length_batches(lengths, cfg.batch_size, rng)]
    if not cfg.short_prefixes:
        return users, batches
    prefixes = short_prefixes(users, cfg.short_prefixes, cfg.prefix_events, rng)
    targets = np.asarray([len(s) - 1 for s in prefixes])
    per_batch = lengths.sum() / math.ceil(len(users) / cfg.batch_size)
    batches += [(len(users) + b, float(targets[b].sum() / per_batch))
                for b in length_batches(targets, cfg.batch_size, rng)]
    rng.shuffle(batches)
    return users + prefixes, batches


def shard_plan(batch: list[np.ndarray], n: int, max_len: int
               ) -> tuple[list[list[np.ndarray]], np.ndarray]:
    """The batch cut into at most ``n`` contiguous shards, and each shard's weight: its
    share of the batch's target positions (so weighted shard losses add up to the batch's
    mean loss)."""
    n_shards = min(n, len(batch))
    shards = [[batch[i] for i in part] for part in np.array_split(np.arange(len(batch)), n_shards)]
    targets = np.asarray([sum(min(len(s) - 1, max_len) for s in shard) for shard in shards])
    return shards, targets / targets.sum()


def sharded_gradients(
    net: SequenceNet,
    batch: list[np.ndarray],
    cfg: SequenceConfig,
    softmax_items: torch.Tensor | None,
    generators: list[torch.Generator],
    pool: ThreadPoolExecutor | None,
) -> float:
    """Set every parameter's ``grad`` to that of the batch's mean loss and return the loss.

    The batch is cut into one shard per generator; each shard's loss, weighted by its
    share of target positions, is differentiated in its own thread with its own dropout
    stream, and the gradients are added in shard order, so results are reproducible.
    """
    shards, weights = shard_plan(batch, len(generators), cfg.max_len)
    params = [p for p in net.parameters() if p.requires_grad]

    def shard_gradient(k: int) -> tuple[float, tuple[torch.Tensor | None, ...]]:
        with random_source(generators[k]):
            loss = sequence_loss(net, shards[k], cfg.max_len, cfg.bf16, softmax_items)
            grads = torch.autograd.grad(loss * float(weights[k]), params, allow_unused=True)
        return float(loss.detach()) * float(weights[k]), grads

    if pool is None or len(shards) == 1:
        results = [shard_gradient(k) for k in range(len(shards))]
    else:
        results = list(pool.map(shard_gradient, range(len(shards))))
    for i, param in enumerate(params):
        parts = [grads[i] for _, grads in results if grads[i] is not None]
        param.grad = functools.reduce(torch.add, parts) if parts else None
    return sum(loss for loss, _ in results)


def process_shard_gradients(
    model: torch.nn.parallel.DistributedDataParallel,
    batch: list[np.ndarray],
    cfg: SequenceConfig,
    generator: torch.Generator,
) -> float:
    """:func:`sharded_gradients` with one shard per process: this process differentiates
    its shard and DDP sums the shards' gradients into every process's ``grad``. Returns
    this shard's weighted loss (the batch loss is the sum over processes)."""
    rank, size = distributed.world()
    shards, weights = shard_plan(batch, size, cfg.max_len)
    if rank < len(shards):
        shard, weight, source = shards[rank], float(weights[rank]), generator
    else:  # fewer sequences than processes: join the sum with a zero gradient
        shard, weight, source = shards[0], 0.0, torch.Generator().manual_seed(0)
    model.zero_grad(set_to_none=True)
    with random_source(source):
        loss = model(shard)
        (loss * (weight * size)).backward()  # DDP averages over processes: undo the 1/size
    return float(loss.detach()) * weight


@torch.no_grad()
def holdout_ndcg(net: SequenceNet | SequenceEnsemble, holdout: Holdout, max_len: int,
                 batch_size: int = 256) -> float:
    """NDCG@10 of the held-out items, ranking all items with the input's items excluded
    (:func:`driftrec.evaluation.metrics.target_ranks` and ``ndcg_from_ranks``)."""
    net.eval()
    total = 0.0
    for start in range(0, len(holdout.targets), batch_size):
        inputs = holdout.inputs[start : start + batch_size]
        scores = net.score_last(right_align(inputs, max_len)).float()
        for row, seq in enumerate(inputs):
            scores[row, torch.from_numpy(np.asarray(seq, dtype=np.int64))] = -math.inf
        ranks = metrics.target_ranks(scores.numpy(), holdout.targets[start : start + batch_size])
        total += float(metrics.ndcg_from_ranks(ranks, 10).sum())
    net.train()
    return total / max(1, len(holdout.targets))


def _shard_loss(net: SequenceNet, shard: list[np.ndarray], *, cfg: SequenceConfig,
                softmax_items: torch.Tensor | None) -> torch.Tensor:
    return sequence_loss(net, shard, cfg.max_len, cfg.bf16, softmax_items)


def _validation_ndcg(net: SequenceNet, holdout: Holdout, max_len: int) -> float:
    """:func:`holdout_ndcg`; across processes each ranks its slice of the users and the
    sums are added, so every process sees the same figure."""
    rank, size = distributed.world()
    if size == 1:
        return holdout_ndcg(net, holdout, max_len)
    part = np.array_split(np.arange(len(holdout.targets)), size)[rank]
    mine = Holdout([holdout.inputs[i] for i in part], holdout.targets[part])
    total = distributed.all_sum([holdout_ndcg(net, mine, max_len) * len(part)])[0]
    return total / max(1, len(holdout.targets))


def lr_factor(cfg: SequenceConfig, total_steps: int) -> Callable[[int, float], float]:
    """Learning-rate multiplier per optimiser step: linear warm-up (lets a high rate start
    from random embeddings safely), then constant or a cosine decay to zero.

    The decay follows whichever is further along: the steps towards ``max_epochs`` or
    ``time_used``, the share of the time budget spent. On a machine too slow to run every
    epoch within the budget, the rate still reaches zero when the budget runs out,
    instead of training stopping at a high rate.
    """
    warmup = max(1, cfg.warmup_steps)

    def factor(step: int, time_used: float = 0.0) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if cfg.lr_schedule == "constant":
            return 1.0
        done = min(1.0, max((step - warmup) / max(1, total_steps - warmup), time_used))
        return 0.5 * (1.0 + math.cos(math.pi * done))

    return factor


def counts_for_patience(cfg: SequenceConfig, lr_multiplier: float) -> bool:
    """Whether a check without improvement counts towards ``patience``. Under the cosine
    schedule only once the rate has decayed to half its peak: before that, validation
    NDCG plateaus at the high rate and the gains come with the decay (on ML-1M a 200-epoch
    schedule stalled for 20 epochs around epoch 60 at 80% of the peak rate)."""
    return cfg.lr_schedule == "constant" or lr_multiplier <= 0.5


def training_threads(cfg: SequenceConfig) -> int:
    """Shards per batch: ``cfg.threads``, or every CPU core (at most 4) when it is 0."""
    return cfg.threads or max(1, min(4, os.cpu_count() or 1))


def _progress_bar(show: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} epochs"),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        disable=not show,
    )


def train_network(
    net: SequenceNet,
    seqs: list[np.ndarray],
    holdout: Holdout | None,
    cfg: SequenceConfig,
    *,
    show_progress: bool = True,
    progress: Progress | None = None,
    label: str = "sequence model",
    stop: threading.Event | None = None,
) -> TrainReport:
    """Fit ``net`` in place on user sequences; returns with the best weights loaded.

    ``progress``: a running progress display to add this network's bar to (default: its
    own). ``stop``: when set from another thread, training ends as on Ctrl-C.
    """
    rng = np.random.default_rng(cfg.seed)
    seqs = [s for s in seqs if len(s) >= 2]
    if not seqs:
        raise ValueError("no user has at least two events: nothing to learn a sequence from")
    users = seqs
    softmax_items = None
    if cfg.softmax_trained_only:
        softmax_items = torch.from_numpy(np.unique(np.concatenate(seqs)).astype(np.int64))
        untrained = torch.ones(net.items.n_items, dtype=torch.bool)
        untrained[softmax_items] = False
        with torch.no_grad():  # no events, no ID meaning: the text projection speaks alone
            net.items.id_emb.weight[1:][untrained] = 0.0
    optimiser = torch.optim.AdamW(
        net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.98)
    )
    n_prefixes = cfg.short_prefixes * sum(len(s) >= PREFIX_SOURCE_EVENTS for s in users)
    n_batches = math.ceil(len(users) / cfg.batch_size) + math.ceil(n_prefixes / cfg.batch_size)
    schedule = lr_factor(cfg, total_steps=n_batches * cfg.max_epochs)
    budget_s = cfg.time_budget_min * 60
    step = 0
    rank, n_processes = distributed.world()
    across_processes = n_processes > 1
    show_progress = show_progress and rank == 0
    cleanup = contextlib.ExitStack()
    if across_processes:  # one shard per process, summed by DDP
        generators = [torch.Generator().manual_seed(cfg.seed * 1_000 + rank)]
        shard_model = distributed.data_parallel(
            net, functools.partial(_shard_loss, cfg=cfg, softmax_items=softmax_items))
        stop = cleanup.enter_context(distributed.interrupt_flag())
    else:
        n_shards = training_threads(cfg)
        generators = [torch.Generator().manual_seed(cfg.seed * 1_000 + k)
                      for k in range(n_shards)]
        pool = ThreadPoolExecutor(n_shards, initializer=torch.set_num_threads, initargs=(1,))
        cleanup.callback(pool.shutdown, cancel_futures=True)
    report = TrainReport()
    best_state = copy.deepcopy(net.state_dict())
    best, bad_checks, stale_checks = -1.0, 0, 0
    start = time.perf_counter()
    net.train()
    own_display = progress is None
    if progress is None:
        progress = _progress_bar(show_progress)
    try:
        with progress if own_display else contextlib.nullcontext():
            task = progress.add_task(label, total=cfg.max_epochs, status="")
            out_of_time = False
            for epoch in range(1, cfg.max_epochs + 1):
                losses = []
                seqs, batches = epoch_batches(users, cfg, rng)
                for batch_idx, prefix_weight in batches:
                    stopping = stop is not None and stop.is_set()
                    time_used = (time.perf_counter() - start) / budget_s if budget_s else 0.0
                    if across_processes:  # every process stops at the same step
                        stopping, time_used = distributed.all_max([stopping, time_used])
                    if stopping:
                        raise KeyboardInterrupt
                    if time_used >= 1.0 and losses:
                        # The rate has decayed to zero with the budget: stop mid-epoch.
                        out_of_time = True
                        break
                    batch = [seqs[i] for i in batch_idx]
                    if cfg.window == "random":
                        batch = random_windows(batch, cfg.max_len + 1, rng)
                    for group in optimiser.param_groups:
                        group["lr"] = cfg.lr * schedule(step, time_used)
                    if across_processes:
                        loss = process_shard_gradients(shard_model, batch, cfg, generators[0])
                    else:
                        loss = sharded_gradients(net, batch, cfg, softmax_items, generators,
                                                 pool)
                    if prefix_weight is None:
                        losses.append(loss)
                    else:
                        for param in net.parameters():
                            if param.grad is not None:
                                param.grad.mul_(prefix_weight)
                    torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
                    optimiser.step()
                    step += 1
                report.epochs = epoch
                epoch_loss = float(np.sum(losses))
                if across_processes:
                    epoch_loss = distributed.all_sum([epoch_loss])[0]
                entry = {"epoch": float(epoch), "loss": epoch_loss / max(1, len(losses)),
                         "seconds": time.perf_counter() - start}
                status = f"loss {entry['loss']:.4f}"
                elapsed_min = (time.perf_counter() - start) / 60
                out_of_time = out_of_time or bool(
                    cfg.time_budget_min and elapsed_min >= cfg.time_budget_min)
                last = out_of_time or epoch == cfg.max_epochs
                if holdout is not None and (epoch % cfg.eval_every == 0 or epoch == 1 or last):
                    ndcg = _validation_ndcg(net, holdout, cfg.max_len)
                    entry["valid_ndcg10"] = ndcg
                    if ndcg > best:
                        best, bad_checks, stale_checks = ndcg, 0, 0
                        best_state = copy.deepcopy(net.state_dict())
                        report.best_epoch, report.best_ndcg10 = epoch, ndcg
                    else:
                        stale_checks += 1
                        if counts_for_patience(cfg, schedule(step, time_used)):
                            bad_checks += 1
                    status += f"  valid NDCG@10 {ndcg:.4f} (best {best:.4f} @ {report.best_epoch})"
                report.history.append(entry)
                log.info("%s epoch %d (%d batches): %s", label, epoch, n_batches, status)
                progress.update(task, advance=1, status=status)
                if holdout is not None and (
                        bad_checks >= cfg.patience
                        or 0 < cfg.stall_limit <= stale_checks):
                    report.stopped_by = "early_stopping"
                    break
                if out_of_time:
                    report.stopped_by = "time_budget"
                    break
    except KeyboardInterrupt:
        report.stopped_by = "interrupted"
        log.warning("%s: training interrupted after %d epochs; keeping the best weights",
                    label, report.epochs)
    finally:
        cleanup.close()
    if holdout is None:
        best_state = copy.deepcopy(net.state_dict())
        report.best_epoch = report.epochs
    net.load_state_dict(best_state)
    net.eval()
    report.seconds = time.perf_counter() - start
    return report


def train_ensemble(
    ensemble: SequenceEnsemble,
    seqs: list[np.ndarray],
    holdout: Holdout | None,
    cfg: SequenceConfig,
    *,
    show_progress: bool = True,
) -> TrainReport:
    """Train every member in its own thread, member ``m`` with seed ``cfg.seed + m`` on
    its share of the training threads; Ctrl-C stops all of them, each keeping its best
    weights. Returns the ensemble's report (see :class:`TrainReport`)."""
    n = len(ensemble.members)
    if distributed.world()[1] > 1:
        raise ValueError("members > 1 cannot train across processes: train one network per "
                         "run under torchrun, or run the ensemble in one process")
    member_threads = max(1, training_threads(cfg) // n)
    configs = [cfg.replace(seed=cfg.seed + m, threads=member_threads, members=1)
               for m in range(n)]
    stop = threading.Event()
    start = time.perf_counter()
    with _progress_bar(show_progress) as progress, ThreadPoolExecutor(
        n, initializer=torch.set_num_threads, initargs=(1,)
    ) as pool:
        futures = [
            pool.submit(train_network, member, seqs, holdout, member_cfg, progress=progress,
                        label=f"sequence model {m + 1}/{n}", stop=stop)
            for m, (member, member_cfg) in enumerate(zip(ensemble.members, configs, strict=True))
        ]
        try:
            reports = [future.result() for future in futures]
        except KeyboardInterrupt:
            stop.set()
            reports = [future.result() for future in futures]
    report = TrainReport(
        epochs=max(r.epochs for r in reports),
        best_epoch=max(r.best_epoch for r in reports),
        stopped_by=",".join(sorted({r.stopped_by for r in reports})),
        members=[dataclasses.asdict(r) for r in reports],
    )
    if holdout is not None:
        report.best_ndcg10 = holdout_ndcg(ensemble, holdout, cfg.max_len)
    ensemble.eval()
    report.seconds = time.perf_counter() - start
    return report


def fit_network(
    net: SequenceNet | SequenceEnsemble,
    seqs: list[np.ndarray],
    holdout: Holdout | None,
    cfg: SequenceConfig,
    *,
    show_progress: bool = True,
) -> TrainReport:
    """Train a network or an ensemble (as :func:`build_network` made it) in place."""
    train = train_ensemble if isinstance(net, SequenceEnsemble) else train_network
    return train(net, seqs, holdout, cfg, show_progress=show_progress)
