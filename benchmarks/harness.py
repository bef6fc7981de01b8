"""What the benchmark scripts share: how a script was called, timing and peak memory,
the common flags, the streaming replay with one training for several models, writing
results files, and clustered item vectors with interest-like queries (retrieval benchmarks).

Scripts import this module and the library, never each other (a test checks). Run them
from the repository root, ``.venv/bin/python benchmarks/bench_<name>.py``; the script's
folder is then on ``sys.path``, so ``import harness`` finds this file.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from driftrec.data.dataset import Dataset
from driftrec.data.schema import TIMESTAMP
from driftrec.evaluation import replay as rp
from driftrec.evaluation import report
from driftrec.models.base import Recommender
from driftrec.utils.resources import Usage, measure

__all__ = ["KS", "RESULTS", "Usage", "add_common_args", "clustered_vectors", "command",
           "interest_queries", "measure", "setup_logging", "streaming_rows", "write_results"]

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
