"""Approximate candidate retrieval against exact search: recall@100, latency, build time.

Item vectors are random but clustered, like text embeddings of a catalogue: cluster sizes
follow a Zipf law, an item is its cluster's centre plus Gaussian noise (``--noise`` per
dimension against a unit-variance centre), unit-normalised. A query is a user's interest:
the mean of 1-3 random items plus noise, unit-normalised. For every dimension the exact
top 100 (``driftrec.recommend.ann.ExactIndex``) is the truth; each approximate index
(faiss HNSW and IVF, as ``ItemIndex`` builds them past its threshold) is built once and
searched with several search widths, one query at a time on one thread (latency p50/p99,
as a service request runs) and as one batch on every thread (throughput).

    .venv/bin/python benchmarks/bench_ann.py [--items 200000] [--dims 64,384] [--queries 500]
"""

from __future__ import annotations

import argparse
import logging
import os
import time

import numpy as np

import harness
from driftrec.recommend.ann import ExactIndex, make_ann_index

log = logging.getLogger("bench_ann")
K = 100


def timed_queries(index, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Labels of one-at-a-time searches on one thread (as the service runs a request),
    their latencies (ms), and queries/s of one batch call on every thread."""
    import faiss
    from threadpoolctl import threadpool_limits

    labels, lat = [], []
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    with threadpool_limits(1):
        for q in queries:
            t0 = time.perf_counter()
            found, _ = index.search(q, K)
            lat.append((time.perf_counter() - t0) * 1000)
            labels.append(found[0])
    faiss.omp_set_num_threads(threads)
    t0 = time.perf_counter()
    index.search(queries, K)
    qps = len(queries) / (time.perf_counter() - t0)
    return np.stack(labels), np.asarray(lat), qps


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(np.intersect1d(f, t)) / K for f, t in zip(found, truth,
                                                                        strict=True)]))


def row(dim: int, kind: str, setting: str, build_s: float, found: np.ndarray,
        truth: np.ndarray, lat: np.ndarray, qps: float) -> dict:
    return {"dim": dim, "index": kind, "search": setting, "build_s": build_s,
            "recall@100": recall(found, truth), "p50_ms": float(np.percentile(lat, 50)),
            "p99_ms": float(np.percentile(lat, 99)), "batch_qps": qps}


def bench_dim(dim: int, args: argparse.Namespace) -> list[dict]:
    rng = np.random.default_rng(args.seed)
    items = harness.clustered_vectors(args.items, dim, args.clusters, args.noise, rng)
    queries = harness.interest_queries(items, args.queries, args.noise, rng)
    rows = []
    t0 = time.perf_counter()
    exact = ExactIndex(dim)
    exact.add(items)
    build_s = time.perf_counter() - t0
    truth, lat, qps = timed_queries(exact, queries)
    rows.append(row(dim, "exact", "all items", build_s, truth, truth, lat, qps))
    log.info("%d-d exact: p50 %.2f ms", dim, rows[-1]["p50_ms"])
    for method, widths, setter in (("hnsw", args.ef_search, "set_ef_search"),
                                   ("ivf", args.nprobe, "set_nprobe")):
        if method not in args.methods:
            continue
        index = make_ann_index(dim, "faiss", method)
        t0 = time.perf_counter()
        index.add(items)
        build_s = time.perf_counter() - t0
        log.info("%d-d %s built in %.1f s", dim, index.kind, build_s)
        for width in widths:
            getattr(index, setter)(width)
            found, lat, qps = timed_queries(index, queries)
            name = "efSearch" if method == "hnsw" else "nprobe"
            extra = (f"M={index.m}, efConstruction={index.ef_construction}"
                     if method == "hnsw" else f"nlist={index.nlist}")
            rows.append(row(dim, index.kind, f"{name}={width} ({extra})", build_s, found,
                            truth, lat, qps))
            log.info("%d-d %s %s=%d: recall %.3f, p50 %.2f ms", dim, index.kind, name, width,
                     rows[-1]["recall@100"], rows[-1]["p50_ms"])
    return rows


def main() -> None:
    ints = lambda s: [int(x) for x in s.split(",") if x]  # noqa: E731
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--dims", type=ints, default=[64, 384])
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--clusters", type=int, default=1_000)
    parser.add_argument("--noise", type=float, default=1.0)
    parser.add_argument("--methods", default="hnsw,ivf")
    parser.add_argument("--ef-search", type=ints, default=[64, 128, 256, 512])
    parser.add_argument("--nprobe", type=ints, default=[8, 16, 32, 64])
    parser.add_argument("--seed", type=int, default=0)
    harness.add_common_args(parser, tag="suffix of the results files", out=True)
    args = parser.parse_args()
    harness.setup_logging()
    import faiss

    rows = [r for dim in args.dims for r in bench_dim(dim, args)]
    stem = f"ann-{args.items // 1000}k" + (f"-{args.tag}" if args.tag else "")
    columns = ["dim", "index", "search", "build_s", "recall@100", "p50_ms", "p99_ms",
               "batch_qps"]
    harness.write_results(
        rows, columns, stem, out=args.out,
        title=f"Candidate retrieval: approximate vs exact top {K} over {args.items:,} items",
        protocol={"items": args.items, "dims": args.dims, "queries": args.queries,
                  "clusters": args.clusters, "noise": args.noise, "k": K, "seed": args.seed,
                  "faiss": faiss.__version__, "faiss_threads": faiss.omp_get_max_threads(),
                  "cpus": os.cpu_count(),
                  "latency": "one query per call on one thread, wall clock; batch_qps: "
                             "all queries in one call on every thread"})


if __name__ == "__main__":
    main()
