"""Feedback replay on MovieLens: frozen vs online vs refitted fusion weights.

The protocol is :mod:`driftrec.evaluation.feedback_replay`: the fused model is trained on
the events before the temporal split's validation cut (``temporal_split``: the last 15% of
events in time are later events), the first ``--events`` later events (users seen before
the cut) are replayed in time order through the serving code, each one predicted (HR@10,
NDCG@10, seen items excluded) before it is ingested, and the served lists are labelled
(the event's item positive, the other shown items negative) for the online update.
Scenarios: ``plain`` (the real later events) and ``drift`` (simulated: with probability
``--drift-share`` a later event's item becomes the user's unseen candidate that the
``--drift-signal`` signal ranks first, see ``SignalDrift``). Variants: the
weights ``frozen``, learnt ``online``, ``refit`` on the frozen run's labels, and ``explore``
(online with ``feedback.explore_slots = 1``: what the exploration slot costs in HR@10).

    .venv/bin/python benchmarks/bench_feedback.py --dataset ml-1m \\
        [--config benchmarks/configs/served-ml-1m.toml] [--events 4000]

Writes ``benchmarks/results/feedback-<dataset>.{json,md}`` (``-TAG`` with ``--tag``).
For a sensitivity study of the online step, ``--update lr=0.5`` (any field of
``feedback.UpdateConfig``, repeatable) changes its settings, ``--keep-model DIR`` keeps
the trained bundle there and reuses it when it exists, and ``--variants`` picks variants
(``refit`` needs ``frozen``).
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

import pandas as pd

import harness
from driftrec.cli.common import model_config, read_config
from driftrec.config import load_settings
from driftrec.data.movielens import load_movielens
from driftrec.data.schema import EVENT_COLUMNS, TIMESTAMP, USER_ID
from driftrec.data.splits import temporal_split
from driftrec.evaluation import report
from driftrec.evaluation.feedback_replay import SignalDrift, refit_weights, replay
from driftrec.feedback.config import FeedbackConfig
from driftrec.models.bundle import save_bundle
from driftrec.models.registry import create_model
from driftrec.service.app import limit_compute_threads
from driftrec.service.core import ServiceCore
from driftrec.service.importer import import_events

#: How this script was called; recorded in every results file it writes.
COMMAND = harness.command()
RESULTS = harness.RESULTS
log = logging.getLogger("bench_feedback")
VARIANTS = ("frozen", "online", "refit", "explore")


def fresh_core(work: Path, bundle: Path, history: pd.DataFrame, name: str,
               encoder: str, explore_slots: int = 0) -> ServiceCore:
    """A service on a new SQLite file holding the replayed users' events before the cut."""
    core = ServiceCore(load_settings(database_url=f"sqlite:///{work / (name + '.db')}",
                                     model_dir=bundle, encoder=encoder,
                                     id_secret="bench-feedback",
                                     feedback={"explore_slots": explore_slots}))
    path = work / f"{name}-history.parquet"
    history.to_parquet(path, index=False)
    import_events(core, path)
    return core


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="ml-1m")
    parser.add_argument("--config", type=Path, help="TOML/JSON with [model] settings")
    parser.add_argument("--events", type=int, default=4000, help="later events replayed")
    parser.add_argument("--batch", type=int, default=50, help="events per online update")
    parser.add_argument("--drift-share", type=float, default=0.5)
    parser.add_argument("--drift-signal", default="popularity",
                        help="the fused signal the simulated drift follows")
    parser.add_argument("--encoder", default="minilm")
    parser.add_argument("--update", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting of the online step (feedback.UpdateConfig)")
    parser.add_argument("--keep-model", type=Path, default=None,
                        help="keep the trained bundle here; reuse it if it exists")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--tag", default="", help="suffix of the results files")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    limit_compute_threads(1)  # as driftrec serve does (training shards set their own)
    config = model_config(read_config(args.config), "default") if args.config else {}
    dataset = load_movielens(args.dataset)
    split = temporal_split(dataset)
    later = pd.concat([split.valid, split.test]).sort_values(TIMESTAMP, kind="stable")
    later = later.head(args.events)[list(EVENT_COLUMNS)].reset_index(drop=True)
    users = set(later[USER_ID])
    history = split.train.events
    history = history[history[USER_ID].isin(users)][list(EVENT_COLUMNS)]
    work = Path(tempfile.mkdtemp(prefix="driftrec-feedback-"))
    if any("=" not in u for u in args.update):
        parser.error("--update takes NAME=VALUE, e.g. --update lr=0.5")
    update = FeedbackConfig(**dict(u.split("=", 1) for u in args.update))
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if not set(variants) <= set(VARIANTS) or ("refit" in variants and "frozen" not in variants):
        parser.error(f"--variants: a subset of {', '.join(VARIANTS)}; refit needs frozen")
    bundle = args.keep_model or work / "model"
    fit_s = float("nan")
    if not (bundle / "bundle.json").exists():
        log.info("training the fused model on %d events before the cut",
                 len(split.train.events))
        t0 = time.perf_counter()
        model = create_model("default", **config).fit(split.train)
        fit_s = time.perf_counter() - t0
        save_bundle(model, split.train, bundle)
    scenarios = {"plain": None,
                 "drift (simulated)": SignalDrift(args.drift_signal, args.drift_share)}
    rows = []
    for scenario, drift in scenarios.items():
        frozen_rows = None
        for variant in [v for v in VARIANTS if v in variants]:
            core = fresh_core(work, bundle, history, f"{scenario[:5]}-{variant}", args.encoder,
                              explore_slots=int(variant == "explore"))
            try:
                fixed = refit_weights(frozen_rows) if variant == "refit" else None
                result = replay(core, later, variant,
                                online=variant in ("online", "explore"),
                                fixed=fixed, batch=args.batch, drift=drift, config=update)
            finally:
                core.close()
            if variant == "frozen":
                frozen_rows = result.rows
            row = {"scenario": scenario, **result.summary(), "variant": variant,
                   "drifted": result.drifted, "weights": result.weights}
            rows.append(row)
            log.info("%s / %s: HR@10 %.4f NDCG@10 %.4f (%d updates, %d rollbacks)", scenario,
                     variant, row["HR@10"], row["NDCG@10"], row["updates"], row["rollbacks"])
    columns = ["scenario", "variant", "events", "drifted", "HR@10", "HR@10_se", "NDCG@10",
               "NDCG@10_se", "updates", "rollbacks", "update_us_per_row"]
    title = (f"Feedback replay on {args.dataset}: fusion weights frozen, online, refitted; "
             "online with an exploration slot")
    report.print_table(rows, columns, title)
    stem = f"feedback-{args.dataset}" + (f"-{args.tag}" if args.tag else "")
    report.write_results(rows, columns, args.out, stem, title=title,
                         protocol={
                             "dataset": args.dataset, "split": "temporal_split (valid+test "
                             "events after the validation cut are the later events)",
                             "events": len(later), "users": len(users), "k": 10,
                             "seen_excluded": True, "batch": args.batch,
                             "drift_share": args.drift_share,
                             "drift_signal": args.drift_signal, "fit_s": round(fit_s, 1),
                             "model_config": config, "encoder": args.encoder,
                             "update": {k: getattr(update, k)
                                        for k in ("lr", "decay_updates", "l2", "max_step")},
                             "command": COMMAND})


if __name__ == "__main__":
    main()
