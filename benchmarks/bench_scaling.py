"""Stage times for a synthetic dataset end to end, each stage the real command line.

1. ``driftrec data synth``: generate events and items (Parquet);
2. ``driftrec train --model itemknn`` (``--model``): read, clean, index and fit;
3. ``driftrec import --model-dir``: check the file, store every event in SQLite (or the
   fresh database ``--db`` names) and build every user's interest state with the live
   update function, over the trained model's catalogue (item text vectors from the
   ``hashing`` encoder, so no language model time);
4. ``driftrec evaluate --protocol loo --models MODEL``: split, fit and rank every item for
   every user (leave-one-out, seen items excluded);
5. ``benchmarks/bench_scale_serving.py``: one service process over the filled store: start
   up, then ``--serve-requests`` users' first recommendations (events and state read from
   the database) and the same users again (contexts in memory); the row gets the first
   requests' p50/p99 and the start-up seconds (``--serve-requests 0`` skips the stage).

Each stage runs as its own process; wall seconds and the process's peak memory (RSS,
sampled every 50 ms) are recorded. ``WORK`` in the recorded commands is the working folder.

    .venv/bin/python benchmarks/bench_scaling.py [--events 1000000] [--users 50000]
        [--items 20000] [--workdir DIR] [--model pop] [--db postgresql+psycopg://...]

Item-kNN holds dense item-item matrices (6.7 GB at 20,000 items): past that, ``--model
pop`` gives the import its catalogue without them.

``--sweep events`` or ``--sweep items`` runs the three stages at each size of ``--sizes``
(events: users = events / 20, items fixed; items: events and users fixed), writes one
results file ``scaling-sweep-<events|items>`` with a row per size and stage, and, when
matplotlib is installed (``pip install matplotlib``), draws seconds (log-log) and peak
memory against size into ``docs/scaling-<events|items>.svg`` (``--replot`` redraws it from
the results file):

    .venv/bin/python benchmarks/bench_scaling.py --sweep events --model pop \
        --sizes 250000,500000,1000000,2000000,4000000 --items 20000
    .venv/bin/python benchmarks/bench_scaling.py --sweep items --model pop \
        --sizes 10000,100000,1000000 --events 1000000 --users 50000
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

import harness

log = logging.getLogger("bench_scaling")
DRIFTREC = [sys.executable, "-m", "driftrec"]
DOCS = Path(__file__).parent.parent / "docs"
SERVING = Path(__file__).parent / "bench_scale_serving.py"
#: Columns the serve stage adds to its row (from its own results file).
SERVE_COLUMNS = ("start_s", "p50_ms", "p99_ms", "again_p99_ms")


def run_stage(name: str, argv: list[str], cwd: Path) -> dict:
    """Run one command; wall seconds and peak RSS of its process tree."""
    shown = ("driftrec " + " ".join(argv[3:]) if argv[:3] == DRIFTREC
             else " ".join(argv[1:]))
    log.info("%s: %s", name, shown)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    watched = psutil.Process(proc.pid)
    peak = 0.0
    while proc.poll() is None:
        try:
            tree = [watched, *watched.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree) / 2**20)
        except psutil.Error:
            pass
        time.sleep(0.05)
    seconds = time.perf_counter() - t0
    output = proc.stdout.read() if proc.stdout else ""
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed ({proc.returncode}):\n{output[-3000:]}")
    log.info("%s: %.1f s, peak %.0f MB", name, seconds, peak)
    return {"stage": name, "command": shown, "seconds": seconds, "peak_rss_mb": peak}


def run_stages(args: argparse.Namespace, work: Path, events: int, users: int,
               items: int) -> list[dict]:
    """The stages (module docstring) at one size in ``work``; one row per stage."""
    work.mkdir(parents=True, exist_ok=True)
    data, model, db = work / "data", work / "model", work / "driftrec.db"
    for path in (model, db):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    db_url = args.db or f"sqlite:///{db}"
    backend = backend_name(db_url)
    events_file, items_file = str(data / "events.parquet"), str(data / "items.parquet")
    stages = [
        ("generate", [*DRIFTREC, "data", "synth", "--users", str(users), "--items",
                      str(items), "--events", str(events), "--seed", str(args.seed),
                      "--out", str(data)]),
        (f"train {args.model}", [*DRIFTREC, "train", "--events", events_file, "--items",
                                 items_file, "--model", args.model, "--out", str(model)]),
        (f"import into {backend}", [*DRIFTREC, "import", "--events", events_file, "--db",
                                    db_url, "--model-dir", str(model), "--encoder",
                                    "hashing"]),
        (f"evaluate {args.model} (loo)", [
            *DRIFTREC, "evaluate", "--dataset", events_file, "--items", items_file,
            "--protocol", "loo", "--models", args.model, "--k", "10", "--out",
            str(work / "evaluation")]),
    ]
    if args.serve_requests > 0:
        stages.append(("serve", [sys.executable, str(SERVING), "--db", db_url, "--events",
                                 events_file, "--requests", str(args.serve_requests),
                                 "--out", str(work / "serving"), "--tag", "sweep"]))
    rows = []
    for name, argv in stages:
        row = run_stage(name, argv, work)
        row["command"] = (row["command"].replace(str(work), "WORK")
                          .replace(f"{SERVING.parent.parent}/", ""))
        if name == "serve":
            row.update(serving_figures(work / "serving" / "scale-serving-sweep.json"))
        else:
            row["events_per_s"] = events / row["seconds"]
        rows.append(row)
    return rows


def serving_figures(path: Path) -> dict:
    """Start-up seconds and request latencies from the serve stage's results file."""
    measures = {r["measure"]: r for r in json.loads(path.read_text())["rows"]}
    start = next(r for m, r in measures.items() if m.startswith("start-up"))
    return {"start_s": start["seconds"], "p50_ms": measures["first request"]["p50_ms"],
            "p99_ms": measures["first request"]["p99_ms"],
            "again_p99_ms": measures["again, in memory"]["p99_ms"]}


def sweep(args: argparse.Namespace) -> None:
    """The stages at every size of ``--sizes``; one results file and (with matplotlib) a
    plot of seconds and peak memory against size."""
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    if not sizes:
        raise SystemExit("--sweep needs --sizes")
    backend = "SQLite"
    rows = []
    for size in sizes:
        events, users, items = ((size, max(size // 20, 1), args.items)
                                if args.sweep == "events" else (args.events, args.users, size))
        work = Path(tempfile.mkdtemp(prefix="driftrec-scaling-", dir=args.workdir))
        for row in run_stages(args, work, events, users, items):
            rows.append({"events": events, "users": users, "items": items, **row})
        shutil.rmtree(work, ignore_errors=True)
    harness.write_results(
        rows, ["events", "users", "items", "stage", "seconds", "events_per_s",
               "peak_rss_mb", *SERVE_COLUMNS], sweep_stem(args), out=args.out,
        title=f"Stage times and peak memory against the number of {args.sweep} "
              f"({backend}, model {args.model})",
        protocol={"sweep": args.sweep, "sizes": sizes, "model": args.model,
                  "database": backend, "seed": args.seed, "cpus": os.cpu_count(),
                  "serve_requests": args.serve_requests,
                  "load_average_1m_at_end": os.getloadavg()[0]})
    plot(rows, args.sweep, DOCS / f"scaling-{args.sweep}.svg")


def plot(rows: list[dict], axis: str, path: Path) -> None:
    """Seconds (log-log) and peak RSS per stage against ``axis``, as an SVG."""
    try:
        import matplotlib

        matplotlib.use("svg")
        matplotlib.rcParams["svg.hashsalt"] = "driftrec"  # stable element ids between runs
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed: no plot (pip install matplotlib)")
        return
    from matplotlib.ticker import FuncFormatter, NullFormatter

    stages = list(dict.fromkeys(r["stage"] for r in rows))
    sizes = sorted({r[axis] for r in rows})
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for stage in stages:
        own = [r for r in rows if r["stage"] == stage]
        xs = [r[axis] for r in own]
        left.plot(xs, [r["seconds"] for r in own], marker="o", label=stage)
        right.plot(xs, [r["peak_rss_mb"] / 1024 for r in own], marker="o", label=stage)
    for ax, label in ((left, "seconds (log)"), (right, "peak RSS, GB")):
        ax.set_xscale("log")
        ax.set_xticks(sizes, [_short(x) for x in sizes])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(f"{axis} (log)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    left.set_yscale("log")
    left.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
    right.set_ylim(bottom=0)
    left.legend(fontsize=8)
    fig.suptitle(f"driftrec stages against the number of {axis} (2 CPU cores)")
    fig.tight_layout()
    metadata = {"Date": None}  # no timestamp: a rerun with the same figures is the same file
    fig.savefig(path, metadata=metadata)
    plt.close(fig)
    log.info("plot: %s", path)


def backend_name(db_url: str) -> str:
    return "PostgreSQL" if db_url.startswith("postgresql") else "SQLite"


def sweep_stem(args: argparse.Namespace) -> str:
    """The results file of a sweep: ``scaling-sweep-<axis>[-<tag>]``."""
    return f"scaling-sweep-{args.sweep}" + (f"-{args.tag}" if args.tag else "")


def _short(n: int) -> str:
    return f"{n / 1e6:g}M" if n >= 1_000_000 else f"{n / 1e3:g}K"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="itemknn",
                        help="model trained in stage 2 (its catalogue is imported)")
    parser.add_argument("--db", default=None,
                        help="database of the import, empty (default: SQLite in WORK)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the files here (default: a temporary folder)")
    parser.add_argument("--sweep", choices=["events", "items"], default=None,
                        help="run the stages at each of --sizes (see the docstring)")
    parser.add_argument("--sizes", default="", help="comma list of sizes for --sweep")
    parser.add_argument("--serve-requests", type=int, default=200,
                        help="users asked for recommendations in the serve stage (0: skip)")
    parser.add_argument("--replot", action="store_true",
                        help="with --sweep: redraw the plot from its results file only")
    harness.add_common_args(parser, tag="suffix of the results files", out=True)
    args = parser.parse_args()
    harness.setup_logging()
    if args.sweep:
        if args.db:
            parser.error("--sweep imports into a fresh SQLite file per size; leave out --db")
        if args.replot:
            rows = json.loads((args.out / f"{sweep_stem(args)}.json").read_text())["rows"]
            plot(rows, args.sweep, DOCS / f"scaling-{args.sweep}.svg")
            return
        sweep(args)
        return
    work = args.workdir or Path(tempfile.mkdtemp(prefix="driftrec-scaling-"))
    rows = run_stages(args, work, args.events, args.users, args.items)
    backend = backend_name(args.db or "sqlite")
    rows.append({"stage": "total", "seconds": sum(r["seconds"] for r in rows),
                 "peak_rss_mb": max(r["peak_rss_mb"] for r in rows)})
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    size = f"{args.events / 1e6:g}m" if args.events >= 1_000_000 else f"{args.events // 1000}k"
    harness.write_results(
        rows, ["stage", "seconds", "events_per_s", "peak_rss_mb", *SERVE_COLUMNS, "command"],
        f"scaling-{size}" + (f"-{args.tag}" if args.tag else ""), out=args.out,
        title=f"Stage times for {args.events:,} synthetic events "
              f"({args.users:,} users, {args.items:,} items)",
        protocol={"events": args.events, "users": args.users, "items": args.items,
                  "seed": args.seed, "model": args.model, "database": backend,
                  "serve_requests": args.serve_requests, "cpus": os.cpu_count(),
                  "load_average_1m_at_end": os.getloadavg()[0]})


if __name__ == "__main__":
    main()
