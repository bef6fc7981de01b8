"""Sequence-model training speed on ML-1M: batch shards, intra-op threads, ensembles.

Each setting trains the default ``sasrec-text`` network for ``--epochs`` epochs on the
ML-1M leave-one-out training events (no validation) and reports seconds per network-epoch
(for an ensemble: wall time divided by its members); the median of ``--repeats`` runs is
kept. Settings:

* ``1 shard, 1 intra-op thread``: one core;
* ``1 shard, N intra-op threads``: one batch at a time, matrix products multi-threaded;
* ``N shards, 1 intra-op thread each``: the batch split into N shards whose gradients are
  computed in parallel threads (the default, ``threads = 0``);
* ``N members, 1 core each``: an ensemble (``members = N``) whose networks train in
  parallel threads;
* ``N shards, 2 blocks of 1 head``: the default training with the previous, shallower
  network (``n_layers = 2``, ``n_heads = 1``), the cost of depth;
* ``N processes (DDP, gloo)``: the same N shards in N processes on loopback, as under
  ``torchrun --nproc-per-node N`` (each process loads the data itself; the time is the
  training's own).

Run it on an otherwise idle machine. Results: ``benchmarks/results/training-threads-ml-1m``
(``-TAG`` with ``--tag``). ``--settings`` picks some of them by key.

    .venv/bin/python benchmarks/bench_training_threads.py [--epochs 2 --repeats 3]
    .venv/bin/python benchmarks/bench_training_threads.py --settings shards,processes \
        --epochs 1 --tag processes
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import socket
import statistics
import time
from dataclasses import dataclass

import numpy as np
import torch

import harness
from driftrec.data.dataset import Histories
from driftrec.data.movielens import load_movielens
from driftrec.data.splits import leave_one_out
from driftrec.evaluation import report
from driftrec.models.sequence import distributed
from driftrec.models.sequence.config import SequenceConfig
from driftrec.models.sequence.network import build_network
from driftrec.models.sequence.training import Holdout, fit_network, given_holdout
from driftrec.text.catalogue import embed_items
from driftrec.text.encoders import get_encoder

#: How this script was called; recorded in every results file it writes.
COMMAND = harness.command()
RESULTS = harness.RESULTS
log = logging.getLogger("bench_training_threads")
#: Setting keys for ``--settings``, in table order.
SETTINGS = ("one-core", "intra-op", "shards", "members", "shallow", "processes")


def seconds_per_epoch(inputs: TrainingInputs, shards: int, intra_op: int, epochs: int,
                      members: int = 1, **architecture: int) -> tuple[float, float]:
    """Wall seconds per epoch of one network (an ensemble's time divided by its members)
    and its final validation NDCG@10 (NaN without a hold-out); ``architecture``: settings
    that replace the defaults (``n_layers=2``, ...)."""
    cfg = SequenceConfig(threads=shards, max_epochs=epochs, valid_users=0, time_budget_min=0,
                         members=members, **architecture)
    torch.manual_seed(cfg.seed)
    net = build_network(cfg, inputs.n_items, inputs.text)
    torch.set_num_threads(intra_op)
    start = time.perf_counter()
    report = fit_network(net, inputs.seqs, inputs.holdout, cfg, show_progress=False)
    seconds = (time.perf_counter() - start) / (epochs * members)
    return seconds, report.history[-1].get("valid_ndcg10", float("nan"))


@dataclass
class TrainingInputs:
    seqs: list[np.ndarray]
    text: torch.Tensor
    n_items: int
    holdout: Holdout | None


def training_inputs(validate: bool) -> TrainingInputs:
    """ML-1M leave-one-out training sequences, item text vectors, the item count and, with
    ``validate``, the validation events (every user's second-to-last)."""
    split = leave_one_out(load_movielens("ml-1m"))
    text = torch.from_numpy(embed_items(split.train, get_encoder(None), progress=False))
    histories = Histories.from_events(split.train.events)
    holdout = given_holdout(histories, split.valid) if validate else None
    return TrainingInputs(histories.items, text, split.train.n_items, holdout)


def process_worker(rank: int, size: int, port: int, epochs: int, validate: bool,
                   results) -> None:
    """One of ``size`` training processes joined over gloo on loopback (what ``torchrun``
    sets up); rank 0 reports the seconds per epoch."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(size), LOCAL_WORLD_SIZE=str(size), GLOO_SOCKET_IFNAME="lo")
    inputs = training_inputs(validate)
    with distributed.process_group():
        measured = seconds_per_epoch(inputs, size, 1, epochs)
    if rank == 0:
        results.put(measured)


def seconds_per_epoch_in_processes(size: int, epochs: int, validate: bool
                                   ) -> tuple[float, float]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    results = multiprocessing.get_context("spawn").SimpleQueue()
    torch.multiprocessing.spawn(process_worker, args=(size, port, epochs, validate, results),
                                nprocs=size)
    return results.get()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cores", type=int, default=min(4, os.cpu_count() or 1))
    parser.add_argument("--settings", default=",".join(SETTINGS),
                        help=f"comma-separated keys of {', '.join(SETTINGS)}")
    parser.add_argument("--validate", action="store_true",
                        help="validate as training does (NDCG@10 of every user's second-to-last "
                        "event after epoch 1, every eval_every epochs and the last; the time "
                        "then includes validation) and report the last figure")
    harness.add_common_args(parser, tag="suffix of the results file")
    args = parser.parse_args()
    chosen = [key.strip() for key in args.settings.split(",") if key.strip()]
    unknown = sorted(set(chosen) - set(SETTINGS))
    if unknown:
        parser.error(f"--settings: unknown {', '.join(unknown)}; choose from {', '.join(SETTINGS)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    inputs = training_inputs(args.validate)
    n = args.cores
    shallow = {"n_layers": 2, "n_heads": 1}
    settings = {"one-core": ("1 shard, 1 intra-op thread", 1, 1, 1, {}),
                "intra-op": (f"1 shard, {n} intra-op threads", 1, n, 1, {}),
                "shards": (f"{n} shards, 1 intra-op thread each", n, 1, 1, {}),
                "members": (f"{n} members, 1 core each", n, 1, n, {}),
                "shallow": (f"{n} shards, 2 blocks of 1 head", n, 1, 1, shallow),
                "processes": (f"{n} processes (DDP, gloo), 1 thread each", n, 1, 1, None)}
    rows = []
    for key in chosen:
        label, shards, intra_op, members, architecture = settings[key]
        if architecture is None:
            runs = [seconds_per_epoch_in_processes(shards, args.epochs, args.validate)
                    for _ in range(args.repeats)]
        else:
            runs = [seconds_per_epoch(inputs, shards, intra_op, args.epochs, members,
                                      **architecture)
                    for _ in range(args.repeats)]
        times = [seconds for seconds, _ in runs]
        rows.append({"setting": label, "shards": shards, "intra_op_threads": intra_op,
                     "s_per_epoch_median": statistics.median(times),
                     "s_per_epoch_min": min(times), "s_per_epoch_max": max(times),
                     "valid_ndcg10": statistics.median(ndcg for _, ndcg in runs)})
        log.info("%s: %.1f s/epoch (median of %d)", label, rows[-1]["s_per_epoch_median"],
                 len(times))
    base = rows[0]["s_per_epoch_median"]
    for row in rows:
        row[f"speed-up vs {rows[0]['setting']}"] = base / row["s_per_epoch_median"]
    columns = ["setting", "s_per_epoch_median", "s_per_epoch_min", "s_per_epoch_max",
               f"speed-up vs {rows[0]['setting']}", *(["valid_ndcg10"] if args.validate else [])]
    title = (f"Sequence-model training on ML-1M: seconds per network-epoch "
             f"({os.cpu_count()} CPU cores)")
    protocol = {"dataset": "ml-1m", "split": "leave-one-out training events",
                "model": "sasrec-text defaults", "epochs": args.epochs, "repeats": args.repeats,
                "validation": "every user's second-to-last event, after the last epoch"
                if args.validate else "none", "cpu_count": os.cpu_count()}
    stem = "training-threads-ml-1m" + (f"-{args.tag}" if args.tag else "")
    report.write_results(rows, columns, RESULTS, stem, title=title,
                         protocol={**protocol, "command": COMMAND})
    report.print_table(rows, columns, title)


if __name__ == "__main__":
    main()
