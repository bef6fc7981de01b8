"""Baseline table on MovieLens: leave-one-out, full ranking, seen items excluded.

Runs the same path as ``driftrec evaluate`` (registry + fit + score) and writes
``benchmarks/results/baselines-<dataset>.{json,md}``.

    .venv/bin/python benchmarks/bench_baselines.py [--datasets ml-1m,ml-100k]
"""

from __future__ import annotations

import argparse
import logging

import harness
from driftrec.data.movielens import load_movielens
from driftrec.evaluation import report, runner

#: How this script was called; recorded in every results file it writes.
COMMAND = harness.command()
RESULTS = harness.RESULTS
MODELS = ["pop", "itemknn", "ease"]
KS = (10, 20, 50)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", default="ml-1m,ml-100k")
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for name in args.datasets.split(","):
        dataset = load_movielens(name)
        rows = runner.run(dataset, "loo", args.models.split(","), ks=KS)
        columns = ["model", *report.headline_columns(KS), *report.RESOURCE_COLUMNS]
        title = f"Baselines on {name}: leave-one-out, full ranking, seen items excluded"
        report.print_table(rows, columns, title)
        report.write_results(rows, columns, RESULTS, f"baselines-{name}", title=title,
                             protocol={"dataset": name, "protocol": "leave-one-out",
                                       "ranking": "full", "exclude_seen": True,
                                       "tie_order": "stable by timestamp, then file order",
                                       "ks": list(KS), "items": dataset.n_items,
                                       "command": COMMAND})


if __name__ == "__main__":
    main()
