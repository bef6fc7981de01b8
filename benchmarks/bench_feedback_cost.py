"""What the feedback loop costs the service: recommendations with it on and off, alternated.

One run of the service benchmark per setting says little about a difference of a few
percent on a noisy 2-core machine, so this script alternates the two settings for
``--rounds`` rounds, each on a fresh SQLite database and a fresh ``driftrec serve``:

* **on** (the default): every served list is recorded as an impression and the worker
  labels impressions and updates the fusion weights online (``docs/feedback.md``);
* **off**: ``DRIFTREC_FEEDBACK__RECORD=false`` and ``DRIFTREC_FEEDBACK__ENABLED=false``.

Each round preloads the same users as ``bench_service.py`` (the last ``--history`` events
of ``--users`` users), makes the first segmentation, then loads the server with ``wrk``:
recommendations right after every user's events (each user's first request runs the model
afresh), then again with every user's context in memory, both saturating the server (each
of ``--concurrency`` connections sends its next request as soon as the last is answered),
and last with contexts in memory at a paced rate of about ``--paced-rate`` requests a
second, below what the server can take: there the p99 is a request's own latency, not the
queue's. The table has one row per round,
setting and phase, then the median over rounds per setting and phase, and the ratio on/off
of each round averaged over rounds, with its standard error.

Writes ``benchmarks/results/feedback-cost-ml-1m.{json,md}``.

    .venv/bin/python benchmarks/bench_feedback_cost.py --model-dir MODEL_DIR [--rounds 5]
"""

from __future__ import annotations

import argparse
import logging
import math
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

import harness
from driftrec.data.movielens import load_movielens
from driftrec.evaluation import report
from driftrec.service.process import ServeProcess

COMMAND = shlex.join([f"benchmarks/{Path(__file__).name}", *sys.argv[1:]])
log = logging.getLogger("bench_feedback_cost")

SETTINGS = {
    "on": {},
    "off": {"DRIFTREC_FEEDBACK__RECORD": "false", "DRIFTREC_FEEDBACK__ENABLED": "false"},
}
PACED = "contexts in memory, paced"
PHASES = ("right after every user's events", "contexts in memory", PACED)
MEASURES = ("throughput_per_s", "p50_ms", "p99_ms")


def one_round(setting: str, args, model_dir: Path, payload: list[dict], user_ids: list[str],
              work: Path) -> list[dict]:
    """Serve on a fresh database with ``setting``; the two recommendation phases."""
    run_dir = Path(tempfile.mkdtemp(prefix=f"{setting}-", dir=work))
    server = ServeProcess(f"sqlite:///{run_dir / 'service.db'}", model_dir,
                          run_dir / "server.log", encoder=args.encoder, ready_timeout=900,
                          workers=args.workers, env={**harness.server_env(), **SETTINGS[setting]})
    server.start()
    rows = []
    try:
        with httpx.Client(base_url=server.url, timeout=600) as http:
            for start in range(0, len(payload), 500):
                http.post("/v1/events", json={"events": payload[start:start + 500]}
                          ).raise_for_status()
            http.post("/v1/admin/segments/rebuild").raise_for_status()
        for phase in PHASES:
            pause = args.concurrency / args.paced_rate * 1000 if phase == PACED else None
            script = harness.recommendations_script(user_ids, "k=10", pause)
            result = harness.run_wrk(server.url, script, args.seconds, args.concurrency, 1,
                                     run_dir, server.pids())
            rows.append({"setting": setting, "phase": phase, **result})
            log.info("%s, %s: %s", setting, phase, result)
    finally:
        server.stop()
    return rows


def paired_ratios(rows: list[dict], phase: str) -> list[dict]:
    """on / off per round (both settings ran in the same round, back to back), as the mean
    over rounds and its standard error: a ratio within two standard errors of 1 is a cost
    these rounds cannot tell from the machine's noise."""
    by_round: dict[int, dict[str, dict]] = {}
    for x in rows:
        if x["phase"] == phase:
            by_round.setdefault(x["round"], {})[x["setting"]] = x
    ratios = {m: [r["on"][m] / r["off"][m] for r in by_round.values()] for m in MEASURES}
    mean = {m: round(statistics.mean(v), 3) for m, v in ratios.items()}
    se = {m: round(statistics.stdev(v) / math.sqrt(len(v)), 3) if len(v) > 1 else None
          for m, v in ratios.items()}
    return [{"round": "on / off, mean of rounds", "setting": "", "phase": phase, **mean},
            {"round": "standard error", "setting": "", "phase": phase, **se}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--encoder", default="minilm")
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--history", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--paced-rate", type=float, default=400.0,
                        help="requests a second offered in the paced phase (about half of "
                             "what one process serves)")
    parser.add_argument("--out", type=Path, default=harness.RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (Debian: apt-get install wrk)")
    dataset = load_movielens("ml-1m")
    users = random.Random(0).sample(sorted(dataset.events["user_id"].unique()), args.users)
    payload = harness.preload(dataset, users, args.history)
    user_ids = [f"ml-{u}" for u in users]
    work = Path(tempfile.mkdtemp(prefix="driftrec-feedback-cost-"))
    rows: list[dict] = []
    started = time.time()
    for r in range(args.rounds):
        for setting in ("on", "off") if r % 2 == 0 else ("off", "on"):
            for row in one_round(setting, args, args.model_dir, payload, user_ids, work):
                rows.append({"round": r + 1, **row})
    summary = []
    for phase in PHASES:
        medians = {s: {m: statistics.median(x[m] for x in rows
                                            if x["setting"] == s and x["phase"] == phase)
                       for m in MEASURES} for s in SETTINGS}
        for s in SETTINGS:
            summary.append({"round": "median", "setting": s, "phase": phase, **medians[s]})
        summary.extend(paired_ratios(rows, phase))
    rows.extend(summary)
    columns = ["round", "setting", "phase", *MEASURES, "errors", "server_cpu_share",
               "loadgen_cpu_share"]
    title = "What the feedback loop costs: recommendations with it on and off (ML-1M)"
    report.print_table(rows, columns, title)
    report.write_results(rows, columns, args.out, "feedback-cost-ml-1m", title=title,
                         protocol={
                             "model": str(args.model_dir), "encoder": args.encoder,
                             "database": "sqlite", "server_processes": args.workers,
                             "preloaded_users": args.users, "history": args.history,
                             "connections": args.concurrency,
                             "seconds_per_phase": args.seconds, "rounds": args.rounds,
                             "paced_rate_per_s": args.paced_rate,
                             "order": "on, off; then off, on; alternating per round",
                             "load_generator": "wrk (Debian package) with a Lua script",
                             "minutes": round((time.time() - started) / 60, 1),
                             "cpu_cores": os.cpu_count(), "command": COMMAND})


if __name__ == "__main__":
    main()
