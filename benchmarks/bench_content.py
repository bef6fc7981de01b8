"""The content-based interest model on MovieLens under four protocols.

* ``loo``: leave-one-out, full ranking, seen items excluded (beside pop / item-kNN / EASE
  from ``bench_baselines.py``), plus the model with its collaborative parts switched off;
* ``cold-item``: 10% of items lose every training event (their text stays); HR on the
  test events whose target is such an item, content model vs ID-only baselines;
* ``cold-user``: new users, absent from training, ranked from their first events
  (``driftrec evaluate --protocol cold-user``); with vs without interest transfer;
* ``streaming``: fit before a time cut, replay later events in time order; before each
  event, rank the catalogue and score the event's item, with the interest state updated
  by every event vs frozen at the cut (a seeded sample of users, bounded per user): the
  replay of ``driftrec evaluate --protocol streaming`` (``evaluation/replay.py``).

Writes ``benchmarks/results/content-<protocol>-<dataset>.{json,md}``.

    .venv/bin/python benchmarks/bench_content.py [--dataset ml-1m] [--protocols loo,...]
"""

from __future__ import annotations

import argparse

import harness
from driftrec.data.dataset import Dataset
from driftrec.data.movielens import load_movielens
from driftrec.evaluation import report, runner
from driftrec.models.base import Recommender
from driftrec.models.content import ContentRecommender
from driftrec.text.catalogue import embed_items

KS = harness.KS
PROTOCOLS = ("loo", "cold-item", "cold-user", "streaming")
#: The content model with its collaborative parts (transfer, popularity) switched off.
TEXT_ONLY = {"w_transfer": 0.0, "w_thin": 0.0, "w_pop": 0.0}
NO_TRANSFER = {"w_transfer": 0.0, "w_thin": 0.0}


def _run(dataset: Dataset, protocol: str, variants: dict[str, tuple[str, dict]]) -> list[dict]:
    """Run each labelled (model name, config) variant through the shared runner."""
    rows: list[dict] = []
    for label, (name, config) in variants.items():
        for row in runner.run(dataset, protocol, [name], ks=KS, configs={name: config}):
            rows.append({**row, "model": label})
    return rows


def bench_loo(dataset: Dataset) -> list[dict]:
    return _run(dataset, "loo", {"content": ("content", {}),
                                 "content (text only)": ("content", TEXT_ONLY)})


def bench_cold_item(dataset: Dataset) -> list[dict]:
    return _run(dataset, "cold-item", {"content": ("content", {}), "pop": ("pop", {}),
                                       "itemknn": ("itemknn", {}), "ease": ("ease", {})})


def bench_cold_user(dataset: Dataset) -> list[dict]:
    return _run(dataset, "cold-user", {"content (transfer)": ("content", {}),
                                       "content (no transfer)": ("content", NO_TRANSFER),
                                       "pop": ("pop", {})})


def fit_content(train: Dataset) -> dict[str, Recommender]:
    """The streaming protocol's default: the content model alone."""
    return {"content": ContentRecommender().fit(train)}


def bench_streaming(dataset: Dataset, *, users: int, per_user: int) -> list[dict]:
    """The streaming replay (``evaluation/replay.py``) of the content model."""
    return harness.streaming_rows(dataset, fit_content, users=users, per_user=per_user)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    harness.add_common_args(parser, dataset="ml-1m")
    parser.add_argument("--protocols", default=",".join(PROTOCOLS))
    parser.add_argument("--stream-users", type=int, default=300)
    parser.add_argument("--stream-per-user", type=int, default=20)
    args = parser.parse_args()
    harness.setup_logging("%(asctime)s %(message)s")
    dataset = load_movielens(args.dataset)
    embed_items(dataset)  # warm the embedding cache once, outside the timings
    for protocol in args.protocols.split(","):
        if protocol == "streaming":
            rows = bench_streaming(dataset, users=args.stream_users,
                                   per_user=args.stream_per_user)
            columns = ["state", "users", "events", *[f"{m}@{k}" for k in KS
                                                      for m in ("HR", "NDCG")], "eval_s"]
        else:
            rows = {"loo": bench_loo, "cold-item": bench_cold_item,
                    "cold-user": bench_cold_user}[protocol](dataset)
            columns = ["protocol", "model", *report.headline_columns(KS),
                       *report.RESOURCE_COLUMNS]
        harness.write_results(rows, columns, f"content-{protocol}-{args.dataset}",
                              title=f"Content interest model on {args.dataset}: {protocol}",
                              protocol={"dataset": args.dataset, "protocol": protocol,
                                        "ranking": "full", "exclude_seen": True,
                                        "ks": list(KS)})

if __name__ == "__main__":
    main()
