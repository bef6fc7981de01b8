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
  network (``n_layers = 2``, ``n_heads = 1``), the cost of depth.

Run it on an otherwise idle machine. Results: ``benchmarks/results/training-threads-ml-1m``.

    .venv/bin/python benchmarks/bench_training_threads.py [--epochs 2 --repeats 3]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time

import numpy as np
import torch

import harness
from driftrec.data.dataset import Histories
from driftrec.data.movielens import load_movielens
from driftrec.data.splits import leave_one_out
from driftrec.evaluation import report
from driftrec.models.sequence.config import SequenceConfig
from driftrec.models.sequence.network import build_network
from driftrec.models.sequence.training import fit_network
from driftrec.text.catalogue import embed_items
from driftrec.text.encoders import get_encoder

#: How this script was called; recorded in every results file it writes.
COMMAND = harness.command()
RESULTS = harness.RESULTS
log = logging.getLogger("bench_training_threads")


def seconds_per_epoch(seqs: list[np.ndarray], text: torch.Tensor, n_items: int,
                      shards: int, intra_op: int, epochs: int, members: int = 1,
                      **architecture: int) -> float:
    """Wall seconds per epoch of one network (an ensemble's time divided by its members);
    ``architecture``: settings that replace the defaults (``n_layers=2``, ...)."""
    cfg = SequenceConfig(threads=shards, max_epochs=epochs, valid_users=0, time_budget_min=0,
                         members=members, **architecture)
    torch.manual_seed(cfg.seed)
    net = build_network(cfg, n_items, text)
    torch.set_num_threads(intra_op)
    start = time.perf_counter()
    fit_network(net, seqs, None, cfg, show_progress=False)
    return (time.perf_counter() - start) / (epochs * members)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cores", type=int, default=min(4, os.cpu_count() or 1))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    train = leave_one_out(load_movielens("ml-1m")).train
    text = torch.from_numpy(embed_items(train, get_encoder(None), progress=False))
    seqs = Histories.from_events(train.events).items
    n = args.cores
    shallow = {"n_layers": 2, "n_heads": 1}
    settings = [("1 shard, 1 intra-op thread", 1, 1, 1, {}),
                (f"1 shard, {n} intra-op threads", 1, n, 1, {}),
                (f"{n} shards, 1 intra-op thread each", n, 1, 1, {}),
                (f"{n} members, 1 core each", n, 1, n, {}),
                (f"{n} shards, 2 blocks of 1 head", n, 1, 1, shallow)]
    rows = []
    for label, shards, intra_op, members, architecture in settings:
        times = [seconds_per_epoch(seqs, text, train.n_items, shards, intra_op, args.epochs,
                                   members, **architecture)
                 for _ in range(args.repeats)]
        rows.append({"setting": label, "shards": shards, "intra_op_threads": intra_op,
                     "s_per_epoch_median": statistics.median(times),
                     "s_per_epoch_min": min(times), "s_per_epoch_max": max(times)})
        log.info("%s: %.1f s/epoch (median of %d)", label, rows[-1]["s_per_epoch_median"],
                 len(times))
    base = rows[0]["s_per_epoch_median"]
    for row in rows:
        row["speed-up vs 1 core"] = base / row["s_per_epoch_median"]
    columns = ["setting", "s_per_epoch_median", "s_per_epoch_min", "s_per_epoch_max",
               "speed-up vs 1 core"]
    title = (f"Sequence-model training on ML-1M: seconds per network-epoch "
             f"({os.cpu_count()} CPU cores)")
    protocol = {"dataset": "ml-1m", "split": "leave-one-out training events",
                "model": "sasrec-text defaults", "epochs": args.epochs, "repeats": args.repeats,
                "cpu_count": os.cpu_count()}
    report.write_results(rows, columns, RESULTS, "training-threads-ml-1m", title=title,
                         protocol={**protocol, "command": COMMAND})
    report.print_table(rows, columns, title)


if __name__ == "__main__":
    main()
