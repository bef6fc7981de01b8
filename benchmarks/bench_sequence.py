"""Sequence model and fused model on MovieLens: accuracy, training cost, serving latency.

Leave-one-out, full ranking, seen items excluded. Every model is built by name from the
registry and trained with ``fit`` exactly as ``driftrec train --model NAME`` does; the
settings come from the same TOML/JSON ``--config`` file format (``[models.NAME]``).

Rows:

* each model in ``--models`` (default ``fused``, and ``sasrec`` = ID-only), with fit time
  and peak memory;
* the fused model's own components, evaluated alone: its ``sasrec-text`` sequence model
  (ID + text features) and, with ``--components``, its ``content`` interest model (both
  trained inside ``fused`` on the training events minus the fusion's held-out events);
* ablations: ``fused`` without each signal. Their weights are refitted on the same held-out
  rows (``FusedRecommender.with_signals``) and they score from the full model's features,
  so they cost seconds instead of a retraining each;
* ``NDCG@10 tail``: NDCG@10 over test targets outside the 20% most popular items.
* for every trained sequence model: its epochs, best validation epoch and NDCG@10;
  the JSON file also keeps why training stopped and the whole validation curve.

Single-user scoring latency (median and p99 over 200 users, in-process) is measured for
every trained model. Results go to ``benchmarks/results/sequence-<dataset>.{json,md}``.

    .venv/bin/python benchmarks/bench_sequence.py --datasets ml-1m,ml-100k
    .venv/bin/python benchmarks/bench_sequence.py --datasets ml-1m --models fused --keep
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import harness
from driftrec.cli.common import read_config
from driftrec.data.movielens import load_movielens
from driftrec.data.schema import ITEM_IDX
from driftrec.data.splits import Split, leave_one_out
from driftrec.evaluation import report
from driftrec.evaluation.ablation import PrecomputedFeatures, fused_features
from driftrec.evaluation.evaluate import evaluate_detailed
from driftrec.models.base import Recommender
from driftrec.models.fusion import SIGNALS, FusedRecommender
from driftrec.models.registry import create_model
from driftrec.models.sequence.training import TrainReport
from driftrec.utils.resources import measure

RESULTS = harness.RESULTS
KS = harness.KS
TAIL_SHARE = 0.2
LATENCY_USERS = 200
log = logging.getLogger("bench_sequence")


def tail_targets(split: Split):
    counts = np.bincount(split.train.events[ITEM_IDX], minlength=split.train.n_items)
    head = set(np.argsort(-counts, kind="stable")[: int(TAIL_SHARE * len(counts))].tolist())
    return split.test[~split.test[ITEM_IDX].isin(head)]


def evaluate_row(label: str, model: Recommender, split: Split, **extra: Any) -> dict:
    with measure() as usage:
        result = evaluate_detailed(model, split, ks=KS)
    tail = evaluate_detailed(model, split, ks=(10,), targets=tail_targets(split))
    row = {"model": label, **result.metrics, "NDCG@10 tail": tail.metrics["NDCG@10"],
           "eval_s": usage.seconds, "peak_rss_mb": usage.peak_rss_mb, **extra}
    log.info("%s: HR@10 %.4f NDCG@10 %.4f", label, row["HR@10"], row["NDCG@10"])
    return row


def latency_ms(model: Recommender, split: Split, seed: int = 0) -> tuple[float, float]:
    """Median and p99 wall time of scoring one user's test-time history."""
    histories = split.histories("test")
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(histories), size=min(LATENCY_USERS, len(histories)), replace=False)
    model.score(histories.subset(picks[:1]))  # warm-up
    times = []
    for i in picks:
        one = histories.subset(np.asarray([i]))
        start = time.perf_counter()
        model.score(one)
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times)), float(np.percentile(times, 99))


def run_dataset(name: str, models: list[str], configs: dict[str, dict], ablations: bool,
                components: bool, done: Callable[[list[dict]], None], tag: str = ""
                ) -> list[dict]:
    dataset = load_movielens(name)
    split = leave_one_out(dataset)
    rows: list[dict] = []
    for model_name in models:
        model = create_model(model_name, **configs.get(model_name, {}))
        log.info("fitting %s on %s", model_name, name)
        with measure() as fit_usage:
            model.fit(split.train)
        median, p99 = latency_ms(model, split)
        extra = {"fit_s": fit_usage.seconds, "fit_peak_rss_mb": fit_usage.peak_rss_mb,
                 "latency_ms_median": median, "latency_ms_p99": p99}
        report_ = getattr(model, "report", None)
        if report_ is not None:
            extra.update(training_record(report_))
        if isinstance(model, FusedRecommender):
            extra["weights"] = model.weights()
            new_rows = fused_rows(model, split, ablations, components, extra)
        else:
            new_rows = [evaluate_row(model_name, model, split, **extra)]
        if tag:
            for row in new_rows:
                row["model"] = f"[{tag}] {row['model']}"
        rows.extend(new_rows)
        done(rows)
    return rows


#: Validation NDCG@10 levels whose time to reach is reported (time-to-quality).
QUALITY_LEVELS = (0.17, 0.18, 0.19)


def training_record(train_report: TrainReport) -> dict[str, Any]:
    """Epochs, the best validation epoch and score, why training stopped, the minutes of
    training until validation NDCG@10 first reached each of :data:`QUALITY_LEVELS`, and
    the validation curve (``[epoch, NDCG@10, seconds]``; JSON only) of a sequence model."""
    curve = [(int(h["epoch"]), h["valid_ndcg10"], h["seconds"])
             for h in train_report.history if "valid_ndcg10" in h]
    reached = {f"min to valid {level:.2f}": next(
        (round(sec / 60, 1) for _, ndcg, sec in curve if ndcg >= level), None)
        for level in QUALITY_LEVELS}
    return {
        "epochs": train_report.epochs,
        "best_epoch": train_report.best_epoch,
        "valid_ndcg10": train_report.best_ndcg10,
        "stopped_by": train_report.stopped_by,
        **reached,
        "valid_curve": [[e, round(n, 5), round(s, 1)] for e, n, s in curve],
    }


def fused_rows(model: FusedRecommender, split: Split, ablations: bool, components: bool,
               extra: dict) -> list[dict]:
    """The fused model, its sequence component and its ablations.

    Features are computed once for every test user (the costly part: the interest
    signals); the fused row and every ablation score from them with ``score_features``,
    the same arithmetic as ``FusedRecommender.score``.
    """
    histories = split.histories("test")
    stacked = fused_features(model, histories)
    rows = [evaluate_row("fused", PrecomputedFeatures(model, stacked, histories.users),
                         split, **extra)]
    if model.sequence is not None:
        seq = model.sequence
        seq_extra = training_record(seq.report) if getattr(seq, "report", None) else {}
        rows.append(evaluate_row(f"fused: {seq.name} component", seq, split, **seq_extra))
    if components and model.content is not None:
        rows.append(evaluate_row("fused: content component", model.content, split))
    if not ablations:
        return rows
    weights = model.weights()
    for signal in model.signals:
        others = [s for s in model.signals if s != signal]
        if not others:
            continue
        variant = model.with_signals(others)
        scorer = PrecomputedFeatures(variant, stacked, histories.users)
        rows.append(evaluate_row(f"fused without {signal}", scorer, split,
                                 weight_of_removed=weights[signal]))
    return rows


def previous_results(path: Path) -> dict:
    """An earlier results file's content (for ``--keep``), or an empty dict."""
    if not path.exists():
        return {}
    return json.loads(path.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    harness.add_common_args(
        parser, datasets="ml-1m,ml-100k",
        config="TOML/JSON with [models.NAME] settings (as for driftrec train)",
        tag="label prefix for these rows (e.g. the --config variant)")
    parser.add_argument("--models", default="fused,sasrec")
    parser.add_argument("--no-ablations", action="store_true")
    parser.add_argument("--keep", action="store_true",
                        help="keep rows of models not rerun from the existing results file")
    parser.add_argument("--components", action="store_true",
                        help="also evaluate the fused model's content component alone")
    args = parser.parse_args()
    harness.setup_logging()
    configs = read_config(args.config).get("models", {})
    columns = ["model", *report.headline_columns(KS), "NDCG@10 tail", "fit_s", "epochs",
               "best_epoch", "valid_ndcg10",
               *(f"min to valid {level:.2f}" for level in QUALITY_LEVELS),
               "peak_rss_mb", "latency_ms_median", "latency_ms_p99"]
    for name in args.datasets.split(","):
        title = (f"Sequence and fused models on {name}: leave-one-out, full ranking, "
                 f"seen items excluded")
        protocol = {"dataset": name, "protocol": "leave-one-out", "ranking": "full",
                    "exclude_seen": True, "ks": list(KS), "tail": f"bottom {1 - TAIL_SHARE:.0%}"
                    " of items by training popularity", "signals": list(SIGNALS)}
        this_run = {"models": args.models, "config_file": str(args.config or ""),
                    "configs": configs,
                    "command": harness.command()}

        def write(rows: list[dict], name: str = name, title: str = title,
                  protocol: dict = protocol, this_run: dict = this_run) -> None:
            # Read at every write, so that runs with different tags can share one file;
            # every tag's settings are kept in the protocol under "runs".
            earlier = previous_results(RESULTS / f"sequence-{name}.json") if args.keep else {}
            labels = {r["model"] for r in rows}
            kept = [r for r in earlier.get("rows", []) if r["model"] not in labels]
            runs = {**earlier.get("protocol", {}).get("runs", {}),
                    args.tag or "untagged": this_run}
            paths = harness.write_results(kept + rows, columns, f"sequence-{name}",
                                          title=title, protocol={**protocol, "runs": runs},
                                          show=False)
            log.info("results so far: %s %s", *paths)

        rows = run_dataset(name, [m for m in args.models.split(",") if m], configs,
                           not args.no_ablations, args.components, write, args.tag)
        report.print_table(rows, columns, title)


if __name__ == "__main__":
    main()
