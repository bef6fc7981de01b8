"""Service load test on MovieLens-1M: throughput and p50/p99 latency, loopback only.

1. serves ``--model-dir`` (or trains ``--model`` on ML-1M) with ``driftrec serve`` in real
   uvicorn processes on 127.0.0.1 and a fresh database (``--db``, SQLite by default);
2. preloads the last ``--history`` events of ``--users`` users through ``POST /v1/events``
   and makes the first segmentation (``POST /v1/admin/segments/rebuild``: start-up work a
   service then repeats once a day), so that the load phases measure the steady state;
3. loads the server with ``wrk`` (Debian's package; C, with a Lua script per phase) at
   ``--concurrency`` connections: one event per request (each durable and applied to the
   user's interest state before the answer), then recommendations (k=10, reasons on);
   the table reports the load generator's CPU share of the machine beside the server's;
4. checks freshness across processes: an event posted to the load-tested server must show
   in the very next answer of a second server process on the same database;
5. measures the same work in-process, one call at a time (no HTTP): a recommendation when
   the user's context is in memory, one right after the user's own event (the model runs
   afresh), and one event (right after a recommendation, and back to back with other
   events). ``--in-process-only`` runs this step alone (no server, no
   ``wrk``), preloading the users through the service core, and writes
   ``service-ml-1m-in-process.{json,md}``.

Writes ``benchmarks/results/service-ml-1m.{json,md}`` (``service-ml-1m-<backend>`` for
another database, ``-<tag>`` with ``--tag``).

    .venv/bin/python benchmarks/bench_service.py --model-dir MODEL_DIR [--workers 1]
        [--db postgresql+psycopg://postgres@127.0.0.1:5432/test] [--encoder minilm]

``DRIFTREC_*`` variables reach the servers (e.g. ``DRIFTREC_FEEDBACK__RECORD=false`` serves
without recording impressions, to measure what the feedback loop costs).
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

import harness
from driftrec.data.movielens import load_movielens
from driftrec.evaluation import report
from driftrec.models.bundle import save_bundle
from driftrec.models.registry import create_model
from driftrec.service.process import ServeProcess

#: How this script was called; recorded in every results file it writes.
COMMAND = shlex.join([f"benchmarks/{Path(__file__).name}", *sys.argv[1:]])
RESULTS = Path(__file__).parent / "results"
log = logging.getLogger("bench_service")


def events_script(users: list[str], items: list[str]) -> str:
    """One new click per request, a unique event id per thread and request."""
    return f"""
local users = {harness.lua_list(users)}
local items = {harness.lua_list(items)}
local n_threads = 0
setup = function(thread) n_threads = n_threads + 1; thread:set("tid", n_threads) end
local counter = 0
request = function()
  counter = counter + 1
  local u = users[(counter * 7 + tid) % #users + 1]
  local i = items[(counter * 13 + tid * 31) % #items + 1]
  local body = string.format('{{"events":[{{"user_id":"%s","item_id":"%s",'
    .. '"event_type":"click","event_id":"wrk-%d-%d"}}]}}', u, i, tid, counter)
  return wrk.format("POST", "/v1/events", {{["Content-Type"]="application/json"}}, body)
end
""" + harness.WRK_DONE


def percentile_row(name: str, latencies: list[float], **extra) -> dict:
    lat = np.asarray(latencies)
    return {"measure": name, "requests": len(lat), "errors": 0,
            "throughput_per_s": round(len(lat) / lat.sum(), 1) if len(lat) else None,
            "p50_ms": round(float(np.percentile(lat, 50)) * 1000, 3),
            "p99_ms": round(float(np.percentile(lat, 99)) * 1000, 3),
            "mean_ms": round(statistics.fmean(lat) * 1000, 3), **extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default", help="registered model to train")
    parser.add_argument("--model-dir", type=Path, help="serve this bundle instead of training")
    parser.add_argument("--encoder", default="minilm", help="minilm, use, hashing, ...")
    parser.add_argument("--db", help="database URL (default: SQLite in a temp dir)")
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument("--users", type=int, default=300, help="users preloaded")
    parser.add_argument("--history", type=int, default=50, help="events per preloaded user")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument("--concurrency", type=int, default=8, help="open connections")
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--in-process", type=int, default=600, help="in-process calls")
    parser.add_argument("--in-process-only", action="store_true",
                        help="only the in-process phases (step 5; no server, no wrk): users "
                        "are preloaded by the service core itself")
    parser.add_argument("--tag", default="")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if shutil.which("wrk") is None and not args.in_process_only:
        parser.error("wrk is not installed (Debian: apt-get install wrk)")
    rng = random.Random(0)
    load_before = round(os.getloadavg()[0], 2)  # other work on the machine skews latencies

    dataset = load_movielens("ml-1m")
    work = Path(tempfile.mkdtemp(prefix="driftrec-bench-"))
    model_dir = args.model_dir
    if model_dir is None:
        log.info("training %s on ML-1M (%d events)", args.model, len(dataset.events))
        model_dir = save_bundle(create_model(args.model).fit(dataset), dataset, work / "model")
    db = args.db or f"sqlite:///{work / 'service.db'}"
    if args.in_process_only:
        in_process_only(args, dataset, db, model_dir, rng, load_before)
        return
    server = ServeProcess(db, model_dir, work / "server.log", encoder=args.encoder,
                          ready_timeout=900, workers=args.workers, env=harness.server_env())
    t0 = time.perf_counter()
    server.start()
    startup_s = time.perf_counter() - t0
    base = server.url
    log.info("server ready in %.1fs (%s, %d process(es))", startup_s, base, args.workers)
    rows: list[dict] = []
    events = dataset.events.sort_values(["user_id", "timestamp"], kind="stable")
    users = rng.sample(sorted(events["user_id"].unique()), args.users)
    user_ids = [f"ml-{u}" for u in users]
    items = [str(i) for i in dataset.item_ids.tolist()]
    try:
        payload = harness.preload(dataset, users, args.history)
        t0 = time.perf_counter()
        with httpx.Client(base_url=base, timeout=60) as http:
            for start in range(0, len(payload), 500):
                http.post("/v1/events", json={"events": payload[start:start + 500]}
                          ).raise_for_status()
            preload_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            # The first segmentation of a fresh database is start-up work (a service
            # refits it once a day): made now, so the load phases measure the steady state.
            built = http.post("/v1/admin/segments/rebuild", timeout=600)
            built.raise_for_status()
            segments_s = time.perf_counter() - t0
        rows.append({"measure": "preload: event batches of 500 (HTTP)",
                     "requests": -(-len(payload) // 500), "errors": 0,
                     "throughput_per_s": round(len(payload) / preload_s, 1),
                     "note": "events/s"})
        rows.append({"measure": "first segmentation (admin rebuild, before the load)",
                     "requests": 1, "errors": 0, "mean_ms": round(segments_s * 1000, 1),
                     "note": f"{len(built.json()['segments'])} segments"})
        pids = server.pids()
        phases = [
            ("ingest 1 event per request (HTTP, wrk)", events_script(user_ids, items)),
            ("recommendations k=10, reasons (HTTP, wrk)",
             harness.recommendations_script(user_ids, "k=10")),
            ("recommendations k=10, diversity 0.5 (HTTP, wrk)",
             harness.recommendations_script(user_ids, "k=10&diversity=0.5")),
        ]
        for name, script in phases:
            result = harness.run_wrk(base, script, args.seconds, args.concurrency, args.wrk_threads,
                             work, pids)
            rows.append({"measure": name, **result})
            log.info("%s: %s", name, result)
        rows.append(freshness_check(db, model_dir, args.encoder, base, user_ids[0], work))
    finally:
        server.stop()

    rows.extend(in_process(db, model_dir, args.encoder, user_ids, items, args.in_process, rng))
    columns = ["measure", "requests", "errors", "throughput_per_s", "p50_ms", "p99_ms",
               "mean_ms", "loadgen_cpu_share", "server_cpu_share", "note"]
    title = "driftrec service on MovieLens-1M (loopback, one 2-core machine)"
    report.print_table(rows, columns, title)
    backend = db.split(":", 1)[0].split("+")[0]
    stem = "service-ml-1m" + ("" if backend == "sqlite" else f"-{backend}") + (
        f"-{args.tag}" if args.tag else "")
    report.write_results(rows, columns, args.out, stem, title=title, protocol={
        "model": args.model if args.model_dir is None else str(args.model_dir),
        "encoder": args.encoder, "database": backend, "server_processes": args.workers,
        "preloaded_users": args.users, "history": args.history,
        "connections": args.concurrency, "wrk_threads": args.wrk_threads,
        "seconds_per_phase": args.seconds, "server_startup_s": round(startup_s, 1),
        "items": dataset.n_items, "cpu_cores": os.cpu_count(),
        "load_generator": "wrk (Debian package) with a Lua script per phase",
        "impressions_recorded": os.environ.get("DRIFTREC_FEEDBACK__RECORD", "true"),
        "load_average_before": load_before, "load_average_after": round(os.getloadavg()[0], 2),
        "command": COMMAND})


def in_process_only(args, dataset, db: str, model_dir: Path, rng: random.Random,
                    load_before: float) -> None:
    """Step 5 alone: preload users through the service core, then the in-process phases."""
    from driftrec.config import load_settings
    from driftrec.service.core import ServiceCore
    from driftrec.store import NewEvent

    users = rng.sample(sorted(dataset.events["user_id"].unique()), args.users)
    user_ids = [f"ml-{u}" for u in users]
    items = [str(i) for i in dataset.item_ids.tolist()]
    core = ServiceCore(load_settings(database_url=db, model_dir=model_dir,
                                     encoder=args.encoder, id_secret=harness.SERVICE_SECRET))
    payload = harness.preload(dataset, users, args.history)
    for start in range(0, len(payload), 500):
        core.ingest([NewEvent(p["user_id"], p["item_id"], p["event_type"], p["value"],
                              p["timestamp"]) for p in payload[start:start + 500]])
    core.close()
    rows = in_process(db, model_dir, args.encoder, user_ids, items, args.in_process, rng)
    columns = ["measure", "requests", "errors", "p50_ms", "p99_ms", "mean_ms", "note"]
    title = "driftrec service on MovieLens-1M, in-process phases (one 2-core machine)"
    report.print_table(rows, columns, title)
    backend = db.split(":", 1)[0].split("+")[0]
    stem = "service-ml-1m-in-process" + ("" if backend == "sqlite" else f"-{backend}") + (
        f"-{args.tag}" if args.tag else "")
    report.write_results(rows, columns, args.out, stem, title=title, protocol={
        "model": args.model if args.model_dir is None else str(args.model_dir),
        "encoder": args.encoder, "database": backend, "preloaded_users": args.users,
        "history": args.history, "items": dataset.n_items, "cpu_cores": os.cpu_count(),
        "load_average_before": load_before, "load_average_after": round(os.getloadavg()[0], 2),
        "command": COMMAND})


def freshness_check(db: str, model_dir: Path, encoder: str, base: str, user: str,
                    work: Path) -> dict:
    """An event posted to the load-tested server shows in a second process's next answer."""
    with ServeProcess(db, model_dir, work / "second.log", encoder=encoder, ready_timeout=900,
                      env=harness.server_env()) as second, httpx.Client(timeout=30) as http:
        path = f"/v1/users/{user}/recommendations"
        before = http.get(second.url + path, params={"k": 10}).json()["items"]
        http.get(second.url + path, params={"k": 10}).raise_for_status()  # now in memory
        top = before[0]["item_id"]
        t0 = time.perf_counter()
        http.post(base + "/v1/events", json={"events": [
            {"user_id": user, "item_id": top, "event_type": "purchase"}]}).raise_for_status()
        after = http.get(second.url + path, params={"k": 10}).json()["items"]
        elapsed = time.perf_counter() - t0
    fresh = top not in [i["item_id"] for i in after]
    if not fresh:
        raise AssertionError("the second process served a list from before the event")
    return {"measure": "freshness across processes: event then other process's list",
            "requests": 2, "errors": 0, "p50_ms": round(elapsed * 1000, 2),
            "note": "passed: the purchased item left the other process's next list"}


def recommend(core, key: str) -> None:
    """What ``GET /v1/users/{id}/recommendations`` does, without HTTP: read what other
    processes changed and the user's revision (one statement), then rank."""
    core.engine.recommend(key, 10, revision=core.refresh_for(key))


def in_process(db: str, model_dir: Path, encoder: str, users: list[str], items: list[str],
               n: int, rng: random.Random) -> list[dict]:
    """Per-call latency of the same work without HTTP (the service core called directly)."""
    from driftrec.config import load_settings
    from driftrec.service.app import limit_compute_threads
    from driftrec.service.core import ServiceCore
    from driftrec.store import NewEvent

    limit_compute_threads(1)  # as driftrec serve does
    core = ServiceCore(load_settings(database_url=db, model_dir=model_dir, encoder=encoder,
                                     id_secret=harness.SERVICE_SECRET))
    keys = [core.store.user_key(u) for u in users]
    for key in keys:
        core.engine.recommend(key, 10)  # contexts in memory, as in a running server
    warm, after_event, ingest = [], [], []
    for i in range(n):
        key = keys[i % len(keys)]
        t0 = time.perf_counter()
        recommend(core, key)
        warm.append(time.perf_counter() - t0)
    for i in range(n):
        user = users[rng.randrange(len(users))]
        ev = NewEvent(user, rng.choice(items), "click", 1.0, int(time.time()), None,
                      f"inproc-{i}")
        t0 = time.perf_counter()
        core.ingest([ev])
        t1 = time.perf_counter()
        recommend(core, core.store.user_key(user))
        t2 = time.perf_counter()
        ingest.append(t1 - t0)
        after_event.append(t2 - t1)
    # Events alone, one after the other: the same work with the caches the previous event
    # left, where the loop above runs each event after a model run (about half as fast).
    back_to_back = []
    for i in range(n):
        ev = NewEvent(users[rng.randrange(len(users))], rng.choice(items), "click", 1.0,
                      int(time.time()), None, f"inproc-b2b-{i}")
        t0 = time.perf_counter()
        core.ingest([ev])
        back_to_back.append(time.perf_counter() - t0)
    hits, misses = core.engine.contexts.hits, core.engine.contexts.misses
    core.close()
    return [
        percentile_row("recommendation k=10, context in memory (in-process)", warm),
        percentile_row("recommendation k=10 right after the user's event (in-process)",
                       after_event, note="model computed afresh"),
        percentile_row("ingest 1 event, durable (in-process)", ingest,
                       note="each right after a recommendation"),
        percentile_row("ingest 1 event, durable, back to back (in-process)", back_to_back),
        {"measure": "in-process context cache", "requests": hits + misses,
         "note": f"{hits} hits, {misses} misses"},
    ]


if __name__ == "__main__":
    main()
