"""The serving pipeline's text retrieval on a large catalogue: exact search against the
approximate index, end to end through ``RecommendationEngine``.

A SQLite store gets ``--items`` catalogue items whose 384-d vectors are clustered like text
embeddings (as in ``bench_ann.py``); one ``RecommendationEngine`` reads it with
``ann_threshold`` above the catalogue (exact: one matrix product per request) and one with
the default threshold (faiss IVF past 100,000 items). Both answer the same requests, one at
a time on one thread as a service request runs:

* ``free-text query``: ``recommend(query_vec=...)``, a user's interest-like vector (the
  mean of 1-3 items plus noise), top 10;
* ``similar items``: ``similar(item, k=10)``.

Reported: p50/p99 latency, and recall@10 of each approximate list against the exact one.
Results: ``benchmarks/results/text-retrieval-<items>.md``.

    .venv/bin/python benchmarks/bench_text_retrieval.py [--items 200000] [--queries 300]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

import harness
from driftrec.recommend.models import ModelHolder
from driftrec.recommend.pipeline import RecommendationEngine
from driftrec.recommend.served_items import Catalogue
from driftrec.store import ItemRecord, Store
from driftrec.utils.resources import measure

log = logging.getLogger("bench_text_retrieval")
DIM = 384
K = 10


def fill_store(store: Store, vectors: np.ndarray, batch: int = 20_000) -> None:
    for start in range(0, len(vectors), batch):
        store.upsert_items(
            ItemRecord(item_id=f"item-{i}", title=f"Item {i}", embedding=vectors[i].tobytes(),
                       encoder="bench")
            for i in range(start, min(start + batch, len(vectors))))
        log.info("%d of %d items written", min(start + batch, len(vectors)), len(vectors))


def engine_for(store: Store, threshold: int) -> tuple[RecommendationEngine, float]:
    """An engine over the stored catalogue, its retrieval ready; and the seconds that took."""
    with measure() as usage:
        catalogue = Catalogue(dim=DIM)
        catalogue.sync(store)
        engine = RecommendationEngine(store, catalogue, ModelHolder(), ann_threshold=threshold)
        engine.text.warm()
        engine.universe()
    return engine, usage.seconds


def timed(calls) -> tuple[list[list[str]], list[float]]:
    lists, ms = [], []
    with threadpool_limits(1):
        for call in calls:
            start = time.perf_counter()
            recs = call()
            ms.append((time.perf_counter() - start) * 1000)
            lists.append([r.item_id for r in recs])
    return lists, ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threshold", type=int, default=100_000,
                        help="ann_threshold of the approximate engine (the setting's default)")
    args = parser.parse_args()
    harness.setup_logging()
    rng = np.random.default_rng(args.seed)
    vectors = harness.clustered_vectors(args.items, DIM, 1_000, 0.06, rng)
    queries = harness.interest_queries(vectors, args.queries, 0.02 * np.sqrt(DIM), rng)
    similar_to = [f"item-{i}" for i in rng.integers(0, args.items, size=args.queries)]

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        fill_store(store, vectors)
        answers: dict[str, dict[str, list[list[str]]]] = {}
        searches = (("exact", args.items + 1),
                    (f"faiss IVF (threshold {args.threshold:,})", args.threshold))
        for label, threshold in searches:
            engine, ready_s = engine_for(store, threshold)
            assert engine.text.approximate() == (threshold <= args.items)
            requests = {
                "free-text query": [lambda q=q, e=engine: e.recommend("", K, query_vec=q,
                                                                      explain=False)
                                    for q in queries],
                "similar items": [lambda i=i, e=engine: e.similar(i, K) for i in similar_to],
            }
            for name, calls in requests.items():
                timed(calls[:20])  # warm-up
                lists, ms = timed(calls)
                answers.setdefault(name, {})[label] = lists
                exact = answers[name].get("exact", lists)
                found = statistics.mean(len(set(a) & set(b)) / max(1, len(b))
                                        for a, b in zip(lists, exact, strict=True))
                rows.append({"request": name, "search": label, "ready_s": ready_s,
                             "p50_ms": float(np.percentile(ms, 50)),
                             "p99_ms": float(np.percentile(ms, 99)),
                             "recall@10 vs exact": found})
                log.info("%s, %s: p50 %.1f ms, p99 %.1f ms, recall %.3f", name, label,
                         rows[-1]["p50_ms"], rows[-1]["p99_ms"], found)
            del engine
    columns = ["request", "search", "ready_s", "p50_ms", "p99_ms", "recall@10 vs exact"]
    title = (f"Serving-pipeline text retrieval over {args.items:,} items (384-d): exact "
             f"against the approximate index")
    protocol = {"items": args.items, "dim": DIM, "queries": args.queries, "k": K,
                "seed": args.seed, "threads": 1, "ann_threshold": args.threshold,
                "ready_s": "catalogue read from SQLite, index built (IVF trains), universe"}
    harness.write_results(rows, columns, f"text-retrieval-{args.items // 1000}k", title=title,
                          protocol=protocol)


if __name__ == "__main__":
    main()
