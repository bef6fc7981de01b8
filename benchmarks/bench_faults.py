"""Fault drills: what survives a SIGKILL, a full disk, and a long run, with figures.

* **kill**: ``--kills`` times, eight writers stream event batches (3 events each, unique
  ``event_id``s) into a real ``driftrec serve`` process, which is SIGKILLed after a random
  0.5-2.5 s; after each restart every writer's acknowledged events must be stored exactly
  once, its request in flight all or nothing, and a retry of that request stores it
  exactly once. Reports kills, acknowledged events, lost events, partial requests.
* **full disk** (SQLite, needs root for a small tmpfs): writes until the file system is
  full; the service must answer an error (never 200 for an event it could not store) and
  every acknowledged event must be readable afterwards.
* **PostgreSQL restart** (with ``--db postgresql...`` and a local cluster): the server is
  stopped for 5 s under four writers and started again; answers while it is down (503 with
  ``Retry-After``), time until the first acknowledged event after it is back, nothing
  acknowledged lost.
* **soak**: ``--soak-seconds`` of mixed load (recommendations and single events); the
  server's resident memory and the p99 latency at the start and at the end.

    .venv/bin/python benchmarks/bench_faults.py [--db URL] [--kills 5] [--soak-seconds 120]

Writes ``benchmarks/results/faults-<backend>.{json,md}``.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import psutil

import harness
from driftrec.data.movielens import load_movielens
from driftrec.evaluation import report
from driftrec.models.bundle import save_bundle
from driftrec.models.registry import create_model
from driftrec.service.process import ServeProcess

#: How this script was called; recorded in every results file it writes.
COMMAND = harness.command()
RESULTS = harness.RESULTS
SECRET = "bench-faults"
WRITERS = 8
PER_BATCH = 3
log = logging.getLogger("bench_faults")


def server(db: str, model_dir: Path, log_path: Path) -> ServeProcess:
    return ServeProcess(db, model_dir, log_path, encoder="hashing", ready_timeout=300, env={
        "DRIFTREC_ID_SECRET": SECRET, "DRIFTREC_API_KEYS_ADMIN": "",
        "DRIFTREC_API_KEYS_READ": ""})


def batch_of(round_: int, writer: int, n: int, items: list[str]) -> list[dict]:
    return [{"user_id": f"w{writer}", "item_id": items[(n * PER_BATCH + j) % len(items)],
             "event_id": f"r{round_}-{n}-{j}", "timestamp": 1_700_000_000 + n,
             "event_type": "click"} for j in range(PER_BATCH)]


def stream(url: str, round_: int, writer: int, items: list[str], acked: list[dict],
           in_flight: dict, refused: list[int], stop: threading.Event) -> None:
    with httpx.Client(base_url=url, timeout=10.0) as http:
        n = 0
        while not stop.is_set():
            batch = batch_of(round_, writer, n, items)
            in_flight[writer] = batch
            try:
                response = http.post("/v1/events", json={"events": batch})
            except httpx.HTTPError:
                return
            if response.status_code != 200:
                refused.append(response.status_code)
                return
            acked.extend(batch)
            del in_flight[writer]
            n += 1


def kill_drill(db: str, model_dir: Path, work: Path, kills: int, items: list[str],
               rng: random.Random) -> dict:
    totals = {"kills": 0, "acknowledged": 0, "lost": 0, "stored_twice": 0,
              "partial_requests": 0, "in_flight_stored": 0, "in_flight_absent": 0,
              "refused": 0}
    restart_s = []
    for round_ in range(kills):
        srv = server(db, model_dir, work / f"kill-{round_}.log").start()
        acked = {w: [] for w in range(WRITERS)}
        in_flight: dict[int, list[dict]] = {}
        refused: list[int] = []
        stop = threading.Event()
        threads = [threading.Thread(target=stream, args=(srv.url, round_, w, items, acked[w],
                                                         in_flight, refused, stop))
                   for w in range(WRITERS)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.5, 2.5))
        srv.kill()
        stop.set()
        for t in threads:
            t.join(15)
        srv.stop()
        totals["kills"] += 1
        totals["refused"] += len(refused)
        t0 = time.perf_counter()
        with server(db, model_dir, work / f"kill-{round_}-after.log") as again, \
                httpx.Client(base_url=again.url, timeout=30) as http:
            restart_s.append(time.perf_counter() - t0)
            for w in range(WRITERS):
                before = len(http.get(f"/v1/users/w{w}/export").json()["events"])
                mine = acked[w]
                totals["acknowledged"] += len(mine)
                # event ids are hashed at rest: resending tells stored (duplicate) from lost
                added = 0
                if mine:
                    body = http.post("/v1/events", json={"events": mine}).json()
                    totals["lost"] += body["accepted"]
                    added += body["accepted"]
                lost_answer = in_flight.get(w)
                if lost_answer:
                    retry = http.post("/v1/events", json={"events": lost_answer}).json()
                    added += retry["accepted"]
                    if retry["duplicates"] == PER_BATCH:
                        totals["in_flight_stored"] += 1
                    elif retry["accepted"] == PER_BATCH:
                        totals["in_flight_absent"] += 1
                    else:
                        totals["partial_requests"] += 1
                after = len(http.get(f"/v1/users/w{w}/export").json()["events"])
                totals["stored_twice"] += max(0, after - before - added)
        log.info("kill %d: %s", round_ + 1, totals)
    totals["restart_s_median"] = round(float(np.median(restart_s)), 2)
    return totals


def full_disk_drill(model_dir: Path, work: Path, items: list[str]) -> dict | None:
    mount = work / "small-fs"
    mount.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)],
                       check=True, capture_output=True)
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        log.warning("full-disk drill skipped: cannot mount a small tmpfs (%s)", exc)
        return None
    try:
        db = f"sqlite:///{mount / 'full.db'}"
        acked: list[dict] = []
        statuses: dict[int, int] = {}
        with server(db, model_dir, work / "full.log") as srv, \
                httpx.Client(base_url=srv.url, timeout=30) as http:
            n = 0
            while n < 200_000:
                batch = [{"user_id": f"u{n % 500}", "item_id": items[n % len(items)],
                          "event_id": f"f{n}", "text": "x" * 2000}]
                response = http.post("/v1/events", json={"events": batch})
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                if response.status_code == 200:
                    acked.extend(batch)
                elif statuses[response.status_code] >= 20:
                    break  # the disk is full and stays full: enough refusals seen
                n += 1
            # everything acknowledged is still there: a retry of all of it adds nothing
            stored_again = 0
            for start in range(0, len(acked), 500):
                body = http.post("/v1/events", json={"events": acked[start:start + 500]})
                if body.status_code == 200:
                    stored_again += body.json()["accepted"]
        return {"acknowledged": len(acked), "answers": statuses,
                "lost": stored_again, "disk_mb": 24}
    finally:
        subprocess.run(["umount", str(mount)], check=False, capture_output=True)


def postgres_restart_drill(db: str, model_dir: Path, work: Path, items: list[str],
                           down_s: float = 5.0) -> dict | None:
    """Writers stream while the local PostgreSQL is stopped for ``down_s`` and started again
    (``pg_ctlcluster``): answers while it is down, time until the first 200 after it is
    back, and every acknowledged event stored."""
    clusters = sorted(Path("/etc/postgresql").glob("*/main")) if Path("/etc/postgresql").is_dir() \
        else []
    if not clusters:
        log.warning("PostgreSQL restart drill skipped: no local cluster to restart")
        return None
    version = clusters[-1].parent.name
    ctl = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main"]
    acked: list[dict] = []
    answers: dict[int, int] = {}
    retry_after: set[str] = set()
    times: dict[str, float] = {}
    stop = threading.Event()
    lock = threading.Lock()
    with server(db, model_dir, work / "pg-restart.log") as srv:

        def writer(w: int) -> None:
            with httpx.Client(base_url=srv.url, timeout=30) as http:
                n = 0
                while not stop.is_set():
                    batch = [{"user_id": f"pg{w}", "item_id": items[n % len(items)],
                              "event_id": f"pg-{w}-{n}", "timestamp": 1_700_000_000 + n}]
                    try:
                        response = http.post("/v1/events", json={"events": batch})
                    except httpx.HTTPError:
                        status = -1
                    else:
                        status = response.status_code
                    with lock:
                        answers[status] = answers.get(status, 0) + 1
                        if status == 200:
                            acked.extend(batch)
                            if "up" in times and "first_ok" not in times:
                                times["first_ok"] = time.monotonic()
                        elif status == 503:
                            retry_after.add(response.headers.get("retry-after", ""))
                    if status == 200:
                        n += 1
                    else:
                        time.sleep(0.1)

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        time.sleep(2.0)
        subprocess.run([*ctl, "stop", "-m", "fast"], check=True, capture_output=True)
        time.sleep(down_s)
        subprocess.run([*ctl, "start"], check=True, capture_output=True)
        times["up"] = time.monotonic()
        deadline = time.monotonic() + 60
        while "first_ok" not in times and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(2.0)
        stop.set()
        for t in threads:
            t.join(30)
        with httpx.Client(base_url=srv.url, timeout=30) as http:
            lost = 0
            for w in range(4):
                mine = [e for e in acked if e["user_id"] == f"pg{w}"]
                for start in range(0, len(mine), 500):
                    lost += http.post("/v1/events", json={"events": mine[start:start + 500]}
                                      ).json()["accepted"]
    recovered = times.get("first_ok", float("nan")) - times["up"]
    return {"acknowledged": len(acked), "answers": answers, "lost": lost,
            "down_s": down_s, "recovery_s": round(recovered, 2),
            "retry_after": sorted(retry_after)}


def soak(db: str, model_dir: Path, work: Path, seconds: float, items: list[str]) -> dict:
    lat: list[tuple[float, float]] = []
    lock = threading.Lock()
    stop = threading.Event()
    rss: list[tuple[float, float]] = []
    with server(db, model_dir, work / "soak.log") as srv:
        proc = psutil.Process(srv.proc.pid)
        t_start = time.monotonic()

        def reader(i: int) -> None:
            with httpx.Client(base_url=srv.url, timeout=30) as http:
                n = 0
                while not stop.is_set():
                    t0 = time.perf_counter()
                    http.get(f"/v1/users/s{(n * 7 + i) % 300}/recommendations")
                    with lock:
                        lat.append((time.monotonic() - t_start, time.perf_counter() - t0))
                    n += 1

        def writer(i: int) -> None:
            with httpx.Client(base_url=srv.url, timeout=30) as http:
                n = 0
                while not stop.is_set():
                    http.post("/v1/events", json={"events": [
                        {"user_id": f"s{(n * 13 + i) % 300}",
                         "item_id": items[(n * 31 + i) % len(items)], "event_type": "click"}]})
                    n += 1

        threads = [threading.Thread(target=reader, args=(i,)) for i in range(4)]
        threads += [threading.Thread(target=writer, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        while time.monotonic() - t_start < seconds:
            rss.append((time.monotonic() - t_start, proc.memory_info().rss / 2**20))
            time.sleep(5)
        stop.set()
        for t in threads:
            t.join(30)
    span = min(30.0, seconds / 4)
    first = [d for t, d in lat if t < span]
    last = [d for t, d in lat if t > seconds - span]
    return {"seconds": seconds, "requests": len(lat),
            "rss_mb_start": round(rss[1][1] if len(rss) > 1 else rss[0][1], 1),
            "rss_mb_end": round(rss[-1][1], 1),
            "p99_ms_first": round(float(np.percentile(first, 99)) * 1000, 1),
            "p99_ms_last": round(float(np.percentile(last, 99)) * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", help="database URL (default: SQLite in a temp dir)")
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--soak-seconds", type=float, default=120.0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    rng = random.Random(0)
    work = Path(tempfile.mkdtemp(prefix="driftrec-faults-"))
    dataset = load_movielens("ml-100k")
    model_dir = save_bundle(create_model("itemknn").fit(dataset), dataset, work / "model")
    items = [str(i) for i in dataset.item_ids]
    db = args.db or f"sqlite:///{work / 'faults.db'}"
    backend = db.split(":", 1)[0].split("+")[0]
    rows = []
    kills = kill_drill(db, model_dir, work, args.kills, items, rng)
    rows.append({"drill": f"SIGKILL under {WRITERS} writers", **kills})
    if backend == "sqlite":
        full = full_disk_drill(model_dir, work, items)
        if full is not None:
            rows.append({"drill": "SQLite on a full 24 MB file system", **full})
    else:
        restart = postgres_restart_drill(db, model_dir, work, items)
        if restart is not None:
            rows.append({"drill": "PostgreSQL stopped for 5 s under 4 writers", **restart})
    rows.append({"drill": "soak: 4 readers, 2 writers", **soak(
        db if backend != "sqlite" else f"sqlite:///{work / 'soak.db'}", model_dir, work,
        args.soak_seconds, items)})
    columns = sorted({k for r in rows for k in r} - {"drill"})
    columns = ["drill", *columns]
    title = f"Fault drills ({backend})"
    report.print_table(rows, columns, title)
    report.write_results(rows, columns, args.out, f"faults-{backend}", title=title, protocol={
        "database": backend, "writers": WRITERS, "events_per_request": PER_BATCH,
        "kills": args.kills, "soak_seconds": args.soak_seconds,
        "model": "itemknn on ML-100K", "encoder": "hashing",
        "command": COMMAND})


if __name__ == "__main__":
    main()
