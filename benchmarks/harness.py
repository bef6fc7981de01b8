"""What the benchmark scripts share: how a script was called, timing and peak memory,
the common flags, the streaming replay with one training for several models, writing
results files, clustered item vectors with interest-like queries (retrieval benchmarks), and
loading a served API with ``wrk`` (service benchmarks).

Scripts import this module and the library, never each other (a test checks). Run them
from the repository root, ``.venv/bin/python benchmarks/bench_<name>.py``; the script's
folder is then on ``sys.path``, so ``import harness`` finds this file.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from driftrec.data.dataset import Dataset
from driftrec.data.schema import TIMESTAMP
from driftrec.evaluation import replay as rp
from driftrec.evaluation import report
from driftrec.models.base import Recommender
from driftrec.utils.resources import Usage, measure

__all__ = ["KS", "RESULTS", "SERVICE_SECRET", "Usage", "add_common_args", "clustered_vectors",
           "command", "interest_queries", "lua_list", "measure", "preload",
           "recommendations_script", "run_wrk", "server_env", "setup_logging",
           "streaming_rows", "write_results"]

#: Where results files go (``benchmarks/results``).
RESULTS = Path(__file__).parent / "results"
#: The cut-offs of every accuracy table.
KS = (10, 20, 50)


def command(argv: list[str] | None = None) -> str:
    """How the running script was called, as recorded in every results file it writes:
    ``benchmarks/<script> <arguments>``."""
    argv = sys.argv if argv is None else argv
    return shlex.join([f"benchmarks/{Path(argv[0]).name}", *argv[1:]])


def setup_logging(fmt: str = "%(asctime)s %(name)s %(message)s") -> None:
    logging.basicConfig(level=logging.INFO, format=fmt)


def add_common_args(parser: argparse.ArgumentParser, *, dataset: str | None = None,
                    datasets: str | None = None, config: str | None = None,
                    tag: str | None = None, out: bool = False) -> argparse.ArgumentParser:
    """The flags several scripts share; each is added only when its argument is given:
    ``--dataset``/``--datasets`` (default value), ``--config`` and ``--tag`` (help text),
    ``--out`` (results folder, default :data:`RESULTS`)."""
    if dataset is not None:
        parser.add_argument("--dataset", default=dataset)
    if datasets is not None:
        parser.add_argument("--datasets", default=datasets)
    if config is not None:
        parser.add_argument("--config", type=Path, default=None, help=config)
    if tag is not None:
        parser.add_argument("--tag", default="", help=tag)
    if out:
        parser.add_argument("--out", type=Path, default=RESULTS)
    return parser


def write_results(rows: list[dict], columns: list[str], stem: str, *, title: str,
                  protocol: dict[str, Any], out: Path = RESULTS, show: bool = True
                  ) -> tuple[Path, Path]:
    """Print the table (``show``) and write ``<out>/<stem>.{json,md}``; the protocol gets
    the script's ``command`` unless it names one."""
    if show:
        report.print_table(rows, columns, title)
    protocol = {**protocol, "command": protocol.get("command") or command()}
    return report.write_results(rows, columns, out, stem, title=title, protocol=protocol)


def streaming_rows(dataset: Dataset, fit: Callable[[Dataset], dict[str, Recommender]], *,
                   users: int = 300, per_user: int = 20, cut_quantile: float = 0.9,
                   seed: int = 0, ks: tuple[int, ...] = KS) -> list[dict[str, Any]]:
    """The streaming protocol (:func:`driftrec.evaluation.replay.streaming_replay`) with
    one training serving several models: ``fit`` trains on the events before the cut and
    returns labelled models (e.g. a fused model and its components); each is replayed with
    the history updated on every event and frozen at the cut.

    Both states exclude the same items from each step's ranking, those of the live history
    (a service whose model state is frozen still knows what the user has since seen), so
    the two rows differ only in the state the model scores from.

    One row per (model, state): ``model``, ``state``, ``users``, ``events``, ``cut``, HR,
    NDCG and MRR at each K (:func:`~driftrec.evaluation.replay.rank_summary`), ``eval_s``.
    """
    cut = int(np.quantile(dataset.events[TIMESTAMP].to_numpy(), cut_quantile))
    train, live, frozen = rp.streaming_replay(dataset, users=users, per_user=per_user,
                                              cut_quantile=cut_quantile, seed=seed)
    n_users = len(np.unique(live.histories.users))
    logging.getLogger("harness").info("streaming: cut=%d, %d users, %d replayed events",
                                      cut, n_users, len(live))
    models = fit(train)
    out = []
    for name, model in models.items():
        for state, steps in (("updated on every event", live),
                             ("frozen at the cut", frozen)):
            progress = state if len(models) == 1 else f"{name}, {state}"
            with measure() as usage:
                ranks = rp.replay_ranks(model, steps, max_k=max(ks),
                                        progress=f"replay ({progress})")
            summary = rp.rank_summary(ranks, ks)
            out.append({"protocol": "streaming", "model": name, "state": state,
                        "events": len(live), "users": n_users, "cut": cut,
                        **{k: v for k, v in summary.items() if "@" in k},
                        "eval_s": usage.seconds})
    return out


def clustered_vectors(n: int, dim: int, clusters: int, noise: float, rng: np.random.Generator
              ) -> np.ndarray:
    """Unit vectors clustered like text embeddings of a catalogue: Zipf cluster sizes
    (``rank^-0.8``), each item its cluster's centre plus Gaussian ``noise``."""
    centres = rng.normal(size=(clusters, dim)).astype(np.float32)
    sizes = np.arange(1, clusters + 1, dtype=float) ** -0.8
    which = rng.choice(clusters, size=n, p=sizes / sizes.sum())
    x = centres[which] + noise * rng.normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def interest_queries(items: np.ndarray, n: int, noise: float, rng: np.random.Generator
                 ) -> np.ndarray:
    """Queries like a user's interest: the mean of 1-3 random ``items`` plus Gaussian
    noise of norm about ``noise``, unit-normalised."""
    picks = rng.integers(0, len(items), size=(n, 3))
    used = rng.integers(1, 4, size=n)
    mask = (np.arange(3)[None, :] < used[:, None]).astype(np.float32)
    q = (items[picks] * mask[:, :, None]).sum(axis=1) / used[:, None]
    q = q + noise / np.sqrt(items.shape[1]) * rng.normal(size=q.shape).astype(np.float32)
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


# -- service load (wrk) ---------------------------------------------------------------
#: The id secret benchmark servers run with (users are pseudonymised with it).
SERVICE_SECRET = "benchmark-secret"

WRK_DONE = """
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
                 + summary.errors.status + summary.errors.timeout
  io.write(string.format('WRK {"requests": %d, "duration_us": %d, "errors": %d, '
    .. '"p50_us": %d, "p99_us": %d, "mean_us": %f}\\n', summary.requests, summary.duration,
    errors, latency:percentile(50), latency:percentile(99), latency.mean))
end
"""


def lua_list(values: list[str]) -> str:
    """A Lua table literal of strings."""
    return "{" + ",".join(json.dumps(v) for v in values) + "}"


def recommendations_script(users: list[str], params: str, pause_ms: float | None = None
                           ) -> str:
    """GET each user's recommendations in turn, with query ``params``.

    ``pause_ms``: each connection waits a random 0.5-1.5 times this long (whole
    milliseconds, as wrk's ``delay`` takes them) before each request, so that the load is
    paced below what the server can take rather than saturating it: ``connections /
    pause`` requests a second, a little less.
    """
    pause = "" if pause_ms is None else f"""
delay = function()
  return math.random({round(0.5 * pause_ms)}, {round(1.5 * pause_ms)})
end
"""
    return f"""
local users = {lua_list(users)}
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/v1/users/" .. users[counter % #users + 1]
                    .. "/recommendations?{params}")
end
""" + pause + WRK_DONE


def run_wrk(base: str, script: str, seconds: float, connections: int, threads: int,
            work: Path, server_pids: list[int]) -> dict:
    """Run wrk; its figures plus the CPU shares of wrk and of the server processes."""
    path = work / "phase.lua"
    path.write_text(script)
    servers = [psutil.Process(p) for p in server_pids]
    before_srv = sum(sum(p.cpu_times()[:2]) for p in servers)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections),
                          "-d", f"{seconds:.0f}s", "--timeout", "10s", "-s", str(path), base],
                         capture_output=True, text=True, check=True).stdout
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    after_srv = sum(sum(p.cpu_times()[:2]) for p in servers)
    line = next(x for x in out.splitlines() if x.startswith("WRK "))
    stats = json.loads(line[4:])
    cores = os.cpu_count() or 1
    wrk_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"requests": stats["requests"], "errors": stats["errors"],
            "throughput_per_s": round(stats["requests"] / (stats["duration_us"] / 1e6), 1),
            "p50_ms": round(stats["p50_us"] / 1000, 2), "p99_ms": round(stats["p99_us"] / 1000, 2),
            "mean_ms": round(stats["mean_us"] / 1000, 2),
            "loadgen_cpu_share": round(wrk_cpu / (wall * cores), 3),
            "server_cpu_share": round((after_srv - before_srv) / (wall * cores), 3)}


def server_env() -> dict[str, str]:
    """Environment of a benchmark server: open access, large batches."""
    return {"DRIFTREC_ID_SECRET": SERVICE_SECRET, "DRIFTREC_API_KEYS_ADMIN": "",
            "DRIFTREC_API_KEYS_READ": "", "DRIFTREC_MAX_BATCH_EVENTS": "1000",
            "DRIFTREC_MAX_BODY_BYTES": "2000000"}


def preload(dataset: Dataset, users: list, history: int) -> list[dict]:
    """The last ``history`` events of each of ``users``, as API event payloads."""
    events = dataset.events.sort_values(["user_id", "timestamp"], kind="stable")
    recent = events[events["user_id"].isin(users)].groupby("user_id").tail(history)
    return [{"user_id": f"ml-{r.user_id}", "item_id": str(r.item_id), "event_type": "rating",
             "value": float(r.value), "timestamp": int(r.timestamp)}
            for r in recent.itertuples()]
