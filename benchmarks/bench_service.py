"""Service load test on MovieLens-1M: throughput and p50/p99 latency, loopback only.

1. trains a model on ML-1M (or serves ``--model-dir``) and starts ``driftrec serve`` in a
   real uvicorn process on 127.0.0.1 with a fresh database;
2. preloads the recent histories of ``--users`` users through ``POST /v1/events``;
3. measures event ingestion (one event per request, each made durable and applied to the
   user's interest state before the answer) and recommendations (k=10, with reasons),
   each with ``--concurrency`` client threads, bounded by ``--requests`` and ``--seconds``;
4. measures the per-request latency of the same work in-process (no HTTP).

Writes ``benchmarks/results/service-ml-1m.{json,md}`` (``service-ml-1m-postgresql.*`` when
``--db`` is a PostgreSQL URL; give it its own schema with ``?options=-csearch_path%3D...``).
The client threads share the machine with the server, so the figures are a floor for what
the server alone could do.

    .venv/bin/python benchmarks/bench_service.py [--model itemknn] [--encoder minilm]
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from driftrec.data.movielens import load_movielens
from driftrec.evaluation import report
from driftrec.models.bundle import save_bundle
from driftrec.models.registry import create_model
from driftrec.service.process import ServeProcess

RESULTS = Path(__file__).parent / "results"
SECRET = "benchmark-secret"
log = logging.getLogger("bench_service")


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def row(name: str, latencies: list[float], elapsed: float, errors: int, **extra) -> dict:
    return {"measure": name, "requests": len(latencies), "errors": errors,
            "throughput_per_s": round(len(latencies) / elapsed, 1) if elapsed else None,
            "events_per_s": None,
            "p50_ms": round(percentile(latencies, 50) * 1000, 2),
            "p99_ms": round(percentile(latencies, 99) * 1000, 2),
            "mean_ms": round(statistics.fmean(latencies) * 1000, 2) if latencies else None,
            **extra}


def load(base: str, make_request, n_requests: int, seconds: float, concurrency: int
         ) -> tuple[list[float], float, int]:
    """Run ``make_request(client, i)`` from ``concurrency`` threads; bounded in count and time."""
    latencies: list[float] = []
    errors = 0
    counter = iter(range(n_requests))
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def worker() -> None:
        nonlocal errors
        with httpx.Client(base_url=base, timeout=30) as client:
            while time.monotonic() < stop_at:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                t0 = time.perf_counter()
                try:
                    ok = make_request(client, i).status_code == 200
                except httpx.HTTPError:
                    ok = False
                dt = time.perf_counter() - t0
                with lock:
                    if ok:
                        latencies.append(dt)
                    else:
                        errors += 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, time.perf_counter() - start, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="itemknn", help="registered model to train")
    parser.add_argument("--model-dir", type=Path, help="serve this bundle instead of training")
    parser.add_argument("--encoder", default="minilm", help="minilm, use, hashing, ...")
    parser.add_argument("--db", help="database URL (default: SQLite in a temp dir)")
    parser.add_argument("--users", type=int, default=300, help="users preloaded")
    parser.add_argument("--history", type=int, default=50, help="events per preloaded user")
    parser.add_argument("--requests", type=int, default=2000, help="requests per phase")
    parser.add_argument("--seconds", type=float, default=30.0, help="time cap per phase")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--in-process", type=int, default=300, help="in-process calls")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    rng = random.Random(0)
    load_before = round(os.getloadavg()[0], 2)  # other work on the machine skews latencies

    dataset = load_movielens("ml-1m")
    work = Path(tempfile.mkdtemp(prefix="driftrec-bench-"))
    model_dir = args.model_dir
    if model_dir is None:
        log.info("training %s on ML-1M (%d events)", args.model, len(dataset.events))
        t0 = time.perf_counter()
        model = create_model(args.model).fit(dataset)
        model_dir = save_bundle(model, dataset, work / "model")
        log.info("trained in %.1fs", time.perf_counter() - t0)
    db = args.db or f"sqlite:///{work / 'service.db'}"
    server = ServeProcess(db, model_dir, work / "server.log", encoder=args.encoder,
                          ready_timeout=900, env={
                              "DRIFTREC_ID_SECRET": SECRET, "DRIFTREC_API_KEYS_ADMIN": "",
                              "DRIFTREC_API_KEYS_READ": "", "DRIFTREC_MAX_BATCH_EVENTS": "1000",
                              "DRIFTREC_MAX_BODY_BYTES": "2000000"})
    base = server.url
    t0 = time.perf_counter()
    server.start()
    startup_s = time.perf_counter() - t0
    log.info("server ready in %.1fs (%s)", startup_s, base)
    rows: list[dict] = []
    try:
        events = dataset.events.sort_values(["user_id", "timestamp"], kind="stable")
        users = rng.sample(sorted(events["user_id"].unique()), args.users)
        recent = events[events["user_id"].isin(users)].groupby("user_id").tail(args.history)
        payload = [{"user_id": f"ml-{r.user_id}", "item_id": str(r.item_id),
                    "event_type": "rating", "value": float(r.value),
                    "timestamp": int(r.timestamp)} for r in recent.itertuples()]
        batches = [payload[i:i + 500] for i in range(0, len(payload), 500)]
        lat, elapsed, errors = load(
            base, lambda c, i: c.post("/v1/events", json={"events": batches[i]}),
            len(batches), 600, 2)
        rows.append(row("preload: event batches of 500 (HTTP)", lat, elapsed, errors,
                        events_per_s=round(len(payload) / elapsed, 1)))

        items = dataset.item_ids.tolist()
        single = [{"user_id": f"ml-{rng.choice(users)}", "item_id": str(rng.choice(items)),
                   "event_type": "click", "event_id": f"bench-{i}"}
                  for i in range(args.requests)]
        lat, elapsed, errors = load(
            base, lambda c, i: c.post("/v1/events", json={"events": [single[i]]}),
            args.requests, args.seconds, args.concurrency)
        rows.append(row("ingest 1 event per request (HTTP)", lat, elapsed, errors,
                        events_per_s=round(len(lat) / elapsed, 1)))

        lat, elapsed, errors = load(
            base, lambda c, i: c.get(f"/v1/users/ml-{users[i % len(users)]}/recommendations",
                                     params={"k": 10}),
            args.requests, args.seconds, args.concurrency)
        rows.append(row("recommendations k=10 (HTTP)", lat, elapsed, errors))

        lat, elapsed, errors = load(
            base, lambda c, i: c.get(f"/v1/users/ml-{users[i % len(users)]}/recommendations",
                                     params={"k": 10, "diversity": 0.5}),
            args.requests // 2, args.seconds, args.concurrency)
        rows.append(row("recommendations k=10, diversity 0.5 (HTTP)", lat, elapsed, errors))
    finally:
        server.stop()

    rows.extend(in_process(db, model_dir, args.encoder, users, items, args.in_process, rng))
    columns = ["measure", "requests", "errors", "throughput_per_s", "events_per_s", "p50_ms",
               "p99_ms", "mean_ms"]
    title = "driftrec service on MovieLens-1M (loopback, one machine)"
    report.print_table(rows, columns, title)
    backend = db.split(":", 1)[0].split("+")[0]
    stem = "service-ml-1m" if backend == "sqlite" else f"service-ml-1m-{backend}"
    report.write_results(rows, columns, args.out, stem, title=title, protocol={
        "model": args.model if args.model_dir is None else str(args.model_dir),
        "encoder": args.encoder, "database": db.split(":", 1)[0],
        "preloaded_users": args.users, "history": args.history,
        "concurrency": args.concurrency, "requests_per_phase": args.requests,
        "seconds_cap": args.seconds, "server_startup_s": round(startup_s, 1),
        "items": dataset.n_items, "load_average_before": load_before,
        "load_average_after": round(os.getloadavg()[0], 2)})


def in_process(db: str, model_dir: Path, encoder: str, users: list, items: list, n: int,
               rng: random.Random) -> list[dict]:
    """Per-request latency of the same work without HTTP (the service core called directly)."""
    from driftrec.config import load_settings
    from driftrec.service.app import limit_compute_threads
    from driftrec.service.core import ServiceCore
    from driftrec.store import NewEvent

    limit_compute_threads(1)  # as driftrec serve does
    core = ServiceCore(load_settings(database_url=db, model_dir=model_dir, encoder=encoder,
                                     id_secret=SECRET))
    rows = []
    lat = []
    for i in range(n):
        key = core.store.user_key(f"ml-{users[i % len(users)]}")
        t0 = time.perf_counter()
        core.engine.recommend(key, 10)
        lat.append(time.perf_counter() - t0)
    rows.append(row("recommendations k=10 (in-process)", lat, sum(lat), 0))
    lat = []
    for i in range(n):
        ev = NewEvent(f"ml-{rng.choice(users)}", str(rng.choice(items)), "click", 1.0,
                      int(time.time()), None, f"inproc-{i}")
        t0 = time.perf_counter()
        core.ingest([ev])
        lat.append(time.perf_counter() - t0)
    rows.append(row("ingest 1 event (in-process)", lat, sum(lat), 0))
    core.close()
    return rows


if __name__ == "__main__":
    main()
