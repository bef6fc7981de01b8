"""The content-based interest model on MovieLens under four protocols.

* ``loo``: leave-one-out, full ranking, seen items excluded (beside pop / item-kNN / EASE
  from ``bench_baselines.py``), plus the model with its collaborative parts switched off;
* ``cold-item``: 10% of items lose every training event (their text stays); HR on the
  test events whose target is such an item, content model vs ID-only baselines;
* ``cold-user``: 10% of users keep only their first 1, 3 or 5 events; with vs without
  interest transfer;
* ``streaming``: fit before a time cut, replay later events in time order; before each
  event, rank the catalogue and score the event's item, with the interest state updated
  by every event vs frozen at the cut (a seeded sample of users, bounded per user).

Writes ``benchmarks/results/content-<protocol>-<dataset>.{json,md}``.

    .venv/bin/python benchmarks/bench_content.py [--dataset ml-1m] [--protocols loo,...]
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from rich.progress import track

from driftrec.data.dataset import Dataset, Histories
from driftrec.data.movielens import load_movielens
from driftrec.data.schema import EVENT_TYPE, ITEM_IDX, TIMESTAMP, USER_IDX, VALUE
from driftrec.evaluation import report, runner
from driftrec.evaluation.metrics import top_k
from driftrec.models.base import Recommender
from driftrec.models.content import ContentRecommender
from driftrec.text.catalogue import embed_items

#: How this script was called; recorded in every results file it writes.
COMMAND = shlex.join([f"benchmarks/{Path(__file__).name}", *sys.argv[1:]])
RESULTS = Path(__file__).parent / "results"
KS = (10, 20, 50)
PROTOCOLS = ("loo", "cold-item", "cold-user", "streaming")
#: The content model with its collaborative parts (transfer, popularity) switched off.
TEXT_ONLY = {"w_transfer": 0.0, "w_thin": 0.0, "w_pop": 0.0}
NO_TRANSFER = {"w_transfer": 0.0, "w_thin": 0.0}

log = logging.getLogger("bench_content")


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


def _history(events: pd.DataFrame, user: int) -> Histories:
    return Histories(np.array([user]), [events[ITEM_IDX].to_numpy()],
                     [events[TIMESTAMP].to_numpy()], [events[VALUE].to_numpy(np.float32)],
                     [events[EVENT_TYPE].to_numpy(object)])


def _concat(hs: list[Histories]) -> Histories:
    return Histories(np.concatenate([h.users for h in hs]), [x for h in hs for x in h.items],
                     [x for h in hs for x in h.timestamps], [x for h in hs for x in h.values],
                     [x for h in hs for x in h.event_types])


def fit_content(train: Dataset) -> dict[str, Recommender]:
    """The streaming protocol's default: the content model alone."""
    return {"content": ContentRecommender().fit(train)}


def bench_streaming(dataset: Dataset, *, users: int = 300, per_user: int = 20,
                    cut_quantile: float = 0.9, seed: int = 0,
                    fit: Callable[[Dataset], dict[str, Recommender]] = fit_content
                    ) -> list[dict]:
    """Prequential replay after a global time cut; see the module docstring.

    ``fit`` trains on the events before the cut and returns the labelled models to replay,
    so one training can serve several rows (e.g. a fused model and its components).
    """
    ev = dataset.events.sort_values([USER_IDX, TIMESTAMP], kind="stable")
    cut = int(np.quantile(ev[TIMESTAMP].to_numpy(), cut_quantile))
    before, after = ev[ev[TIMESTAMP] < cut], ev[ev[TIMESTAMP] >= cut]
    eligible = np.intersect1d(before[USER_IDX].unique(), after[USER_IDX].unique())
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(eligible, size=min(users, len(eligible)), replace=False))
    models = fit(dataset.with_events(before))
    rows_live, rows_frozen, targets, seen = [], [], [], []
    by_user_before = dict(tuple(before[before[USER_IDX].isin(chosen)].groupby(USER_IDX)))
    by_user_after = dict(tuple(after[after[USER_IDX].isin(chosen)].groupby(USER_IDX)))
    for u in chosen:
        past, future = by_user_before[u], by_user_after[u].iloc[:per_user]
        frozen = _history(past, u)
        for j in range(len(future)):
            live = pd.concat([past, future.iloc[:j]])
            rows_live.append(_history(live, u))
            rows_frozen.append(frozen)
            targets.append(int(future[ITEM_IDX].iloc[j]))
            seen.append(live[ITEM_IDX].to_numpy())
    targets_arr = np.asarray(targets)
    log.info("streaming: cut=%d, %d users, %d replayed events", cut, len(chosen), len(targets))
    states = (("updated on every event", _concat(rows_live)),
              ("frozen at the cut", _concat(rows_frozen)))
    out = []
    for name, model in models.items():
        for label, histories in states:
            t0 = time.perf_counter()
            progress = label if len(models) == 1 else f"{name}, {label}"
            ranks = _ranks(model, histories, seen, targets_arr, progress)
            row = {"protocol": "streaming", "model": name, "state": label,
                   "events": len(targets), "users": len(chosen), "cut": cut}
            for k in KS:
                hit = ranks < k
                row[f"HR@{k}"] = float(hit.mean())
                row[f"NDCG@{k}"] = float(np.where(hit, 1.0 / np.log2(ranks + 2), 0.0).mean())
            row["eval_s"] = time.perf_counter() - t0
            out.append(row)
    return out


def _ranks(model: Recommender, histories: Histories, seen: list[np.ndarray], targets: np.ndarray,
           label: str, batch: int = 256) -> np.ndarray:
    """0-based rank of each target among unseen items (a target is never excluded)."""
    ranks = np.empty(len(targets), dtype=np.int64)
    for start in track(range(0, len(targets), batch), description=f"replay ({label})"):
        rows = np.arange(start, min(start + batch, len(targets)))
        scores = model.score(histories.subset(rows)).copy()
        for r, i in enumerate(rows):
            s = seen[i][seen[i] != targets[i]]
            scores[r, s] = -np.inf
        lists = top_k(scores, max(KS))
        hit = lists == targets[rows, None]
        ranks[rows] = np.where(hit.any(1), hit.argmax(1), max(KS))
    return ranks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="ml-1m")
    parser.add_argument("--protocols", default=",".join(PROTOCOLS))
    parser.add_argument("--stream-users", type=int, default=300)
    parser.add_argument("--stream-per-user", type=int, default=20)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
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
        title = f"Content interest model on {args.dataset}: {protocol}"
        report.print_table(rows, columns, title)
        report.write_results(rows, columns, RESULTS, f"content-{protocol}-{args.dataset}",
                             title=title, protocol={"dataset": args.dataset,
                                                    "protocol": protocol, "ranking": "full",
                                                    "exclude_seen": True, "ks": list(KS),
                                                    "command": COMMAND})


if __name__ == "__main__":
    main()
