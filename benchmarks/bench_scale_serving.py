"""One service process over a large store: start-up time, memory and recommendation latency.

Opens a store that ``bench_scaling.py`` filled (``--workdir W --db URL``: its events file
names the users) the way ``driftrec serve`` does (the API app built in process: catalogue,
active model, text index past ``ann_threshold``, one compute thread), then asks for the
recommendations (k=10, reasons on) of ``--requests`` users drawn from the events file:

* ``first request``: the user's events and interest state read from the database;
* ``again, in memory``: the same users once more (their contexts cached in the process).

Reported: start-up seconds (the app as ``driftrec serve`` builds it, which counts item
popularity over every stored event, and the first segmentation of the stored users, which
a new service makes in the background), resident memory after start-up and the process's
peak RSS, latency p50/p99 of each phase. Results:
``benchmarks/results/scale-serving-<tag>.md``.

    .venv/bin/python benchmarks/bench_scale_serving.py --db URL --events W/data/events.parquet
        [--requests 500] [--tag 10m-postgresql]
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import resource
import time
from pathlib import Path

import numpy as np
import psutil
import pyarrow.parquet as pq

import harness
from driftrec.config import load_settings
from driftrec.service.app import create_app, limit_compute_threads

log = logging.getLogger("bench_scale_serving")


def percentiles(name: str, seconds: list[float]) -> dict:
    ms = np.asarray(seconds) * 1000
    return {"measure": name, "requests": len(ms), "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99)), "mean_ms": float(ms.mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True, help="database URL of the filled store")
    parser.add_argument("--events", type=Path, required=True,
                        help="the events file the store was filled from (user ids)")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    harness.add_common_args(parser, tag="suffix of the results files", out=True)
    args = parser.parse_args()
    harness.setup_logging()
    process = psutil.Process()
    users = pq.read_table(args.events, columns=["user_id"]).column("user_id").unique()
    users = [str(u) for u in random.Random(args.seed).sample(users.to_pylist(),
                                                             args.requests)]
    rss_before = process.memory_info().rss / 2**20

    limit_compute_threads(1)  # as driftrec serve does
    t0 = time.perf_counter()
    app = create_app(load_settings(database_url=args.db, encoder="hashing"))
    core = app.state.core
    core.segments.get()  # the first segmentation of the stored users, as a new service
    core.segments.join()  # makes it in the background: done before the requests
    start_s = time.perf_counter() - t0
    rss_started = process.memory_info().rss / 2**20
    loaded = core.models.current
    log.info("started in %.1f s: %d catalogue items, model %s, text search %s, RSS %.0f MB",
             start_s, len(core.catalogue), loaded.version if loaded else None,
             "approximate" if core.engine.text.approximate() else "exact", rss_started)
    keys = [core.store.user_key(u) for u in users]
    phases = {}
    for phase in ("first request", "again, in memory"):
        times = []
        for key in keys:
            t = time.perf_counter()
            recs = core.engine.recommend(key, 10)
            times.append(time.perf_counter() - t)
            assert recs, "no recommendation"
        phases[phase] = times
        log.info("%s: p50 %.1f ms, p99 %.1f ms", phase, np.percentile(times, 50) * 1000,
                 np.percentile(times, 99) * 1000)
    rows = [percentiles(name, times) for name, times in phases.items()]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows.append({"measure": "start-up (catalogue, model, text index, popularity, segments)",
                 "requests": 0,
                 "seconds": start_s, "rss_mb": rss_started - rss_before})
    rows.append({"measure": "peak resident memory of the process", "requests": 0,
                 "rss_mb": peak_mb})
    core.close()
    harness.write_results(
        rows, ["measure", "requests", "p50_ms", "p99_ms", "mean_ms", "seconds", "rss_mb"],
        "scale-serving" + (f"-{args.tag}" if args.tag else ""), out=args.out,
        title=f"One service process over {len(core.catalogue):,} items "
              f"({args.events.name} users), in process, one thread",
        protocol={"database": args.db.split(":", 1)[0].split("+")[0],
                  "items": len(core.catalogue), "model": loaded.name if loaded else None,
                  "text_search": "approximate" if core.engine.text.approximate() else "exact",
                  "requests": args.requests, "k": 10, "reasons": True, "seed": args.seed,
                  "cpus": os.cpu_count(),
                  "rss_mb": "start-up: growth over the interpreter with its imports"})


if __name__ == "__main__":
    main()
