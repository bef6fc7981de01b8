"""The serving pipeline under the offline protocols: does the service give what we measure?

For each protocol case (``loo``; ``cold-item`` all and cold targets; ``cold-user``: new
users held out of training, each of their first 20 events predicted from the ones before)
the model is trained on the case's training events, exactly as
``driftrec train`` does (``create_model(name).fit``), saved as a bundle, and then:

* **offline**: ranked by :func:`evaluate_detailed` (the project's evaluation harness);
* **served**: a fresh SQLite service (:class:`ServiceCore`, the REST handlers' code) gets
  each evaluated user's history through ``ingest`` (the code behind ``POST /v1/events``)
  and answers ``recommend`` (the code behind ``GET .../recommendations``); the lists are
  scored by the same metric code (:func:`driftrec.evaluation.served.served_evaluation`).

``identical_top10`` is the share of users whose served top 10 equals the offline top 10;
for the new-user replay, where every step is one request after the user's latest event,
``same_rank`` is the share of steps whose target has the same rank on both paths.
Protocol: full ranking over the catalogue, items in the user's history excluded, ties in
score broken by item index (offline) and by catalogue position (served).

    .venv/bin/python benchmarks/bench_served.py --dataset ml-1m [--model default] \\
        [--config benchmarks/configs/served-ml-1m.toml] [--protocols loo,cold-item,cold-user]

Writes ``benchmarks/results/served-<dataset>.{json,md}`` (``served-<dataset>-<tag>`` with
``--tag``).
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from driftrec.cli.common import model_config, read_config
from driftrec.config import load_settings
from driftrec.data.movielens import load_movielens
from driftrec.evaluation import report
from driftrec.evaluation.evaluate import evaluate_detailed
from driftrec.evaluation.replay import replay_ranks
from driftrec.evaluation.runner import REPLAY_PROTOCOLS, protocol_cases, replay_case
from driftrec.evaluation.served import served_evaluation, served_replay
from driftrec.models.bundle import save_bundle
from driftrec.models.registry import create_model
from driftrec.service.app import limit_compute_threads
from driftrec.service.core import ServiceCore

RESULTS = Path(__file__).parent / "results"
KS = (10, 20, 50)
METRICS = [f"{m}@{k}" for k in KS for m in ("HR", "NDCG")]
log = logging.getLogger("bench_served")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="ml-1m")
    parser.add_argument("--model", default="default")
    parser.add_argument("--config", type=Path, help="TOML/JSON with [model] settings")
    parser.add_argument("--protocols", default="loo,cold-item,cold-user")
    parser.add_argument("--encoder", default="minilm", help="the service's text encoder")
    parser.add_argument("--tag", default="")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    config = model_config(read_config(args.config), args.model) if args.config else {}
    limit_compute_threads(1)  # as driftrec serve does (training shards set their own)
    dataset = load_movielens(args.dataset)
    work = Path(tempfile.mkdtemp(prefix="driftrec-served-"))
    rows: list[dict] = []
    trained: dict[str, tuple] = {}
    for protocol in args.protocols.split(","):
        if protocol in REPLAY_PROTOCOLS:
            rows.extend(replay_rows(dataset, protocol, args, config, work))
            continue
        for case in protocol_cases(dataset, protocol):
            key = case.split.name
            if key not in trained:
                log.info("training %s on %s (%d events)", args.model, key,
                         len(case.split.train.events))
                t0 = time.perf_counter()
                model = create_model(args.model, **config).fit(case.split.train)
                fit_s = time.perf_counter() - t0
                bundle = save_bundle(model, case.split.train, work / key)
                trained[key] = (model, bundle, fit_s)
            model, bundle, fit_s = trained[key]
            targets = case.split.targets("test")
            if case.target_filter is not None:
                targets = case.target_filter(targets)
            offline = evaluate_detailed(model, case.split, ks=KS, targets=targets,
                                        progress=True)
            core = ServiceCore(load_settings(
                database_url=f"sqlite:///{work / (key + '-' + str(len(rows)) + '.db')}",
                model_dir=bundle, encoder=args.encoder, id_secret="bench-served"))
            try:
                served, timings = served_evaluation(core, case.split, ks=KS, targets=targets)
            finally:
                core.close()
            same = float(np.mean((served.lists[:, :10] == offline.lists[:, :10]).all(axis=1)))
            for path, result in (("offline", offline), ("served", served)):
                rows.append({"protocol": case.label, "path": path,
                             **{m: result.metrics[m] for m in METRICS},
                             "users": int(result.metrics["users"]),
                             "identical_top10": same if path == "served" else None,
                             "fit_s": round(fit_s, 1),
                             **({k: round(v, 2) for k, v in timings.items()}
                                if path == "served" else {})})
            log.info("%s: offline NDCG@10 %.4f, served %.4f, identical top-10 %.3f",
                     case.label, offline.metrics["NDCG@10"], served.metrics["NDCG@10"], same)
    columns = ["protocol", "path", *METRICS, "users", "steps", "identical_top10",
               "same_rank", "fit_s", "ingest_ms_per_user", "recommend_ms_per_user",
               "ingest_ms_per_step", "recommend_ms_per_step"]
    title = f"Offline model vs served pipeline on {args.dataset} ({args.model})"
    report.print_table(rows, columns, title)
    stem = f"served-{args.dataset}" + (f"-{args.tag}" if args.tag else "")
    report.write_results(rows, columns, args.out, stem, title=title, protocol={
        "dataset": args.dataset, "model": args.model, "config": config,
        "ranking": "full, seen excluded", "encoder": args.encoder,
        "command": "benchmarks/bench_served.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()
            if v not in (None, "") and k != "out")})


def replay_rows(dataset, protocol: str, args, config: dict, work: Path) -> list[dict]:
    """A replay protocol (new users) offline and through the service, step by step."""
    case = replay_case(dataset, protocol)
    log.info("training %s for %s (%d events)", args.model, protocol, len(case.train.events))
    t0 = time.perf_counter()
    model = create_model(args.model, **config).fit(case.train)
    fit_s = time.perf_counter() - t0
    bundle = save_bundle(model, case.train, work / protocol)
    rows = []
    for label, replay in case.replays.items():
        offline = replay_ranks(model, replay, max_k=max(KS), progress=f"offline, {label}")
        core = ServiceCore(load_settings(
            database_url=f"sqlite:///{work / (protocol + '-served.db')}", model_dir=bundle,
            encoder=args.encoder, id_secret="bench-served"))
        try:
            served, timings = served_replay(core, replay, case.train.user_ids,
                                            case.train.item_ids, max_k=max(KS))
        finally:
            core.close()
        for path, ranks in (("offline", offline), ("served", served)):
            for row_label, metrics in case.rows(label, ranks, replay, KS):
                mask = _rows_of(row_label, replay)
                rows.append({"protocol": row_label, "path": path,
                             **{m: metrics[m] for m in METRICS},
                             "steps": int(metrics["steps"]),
                             "same_rank": (float(np.mean(served[mask] == offline[mask]))
                                           if path == "served" else None),
                             "fit_s": round(fit_s, 1),
                             **({k: round(v, 2) for k, v in timings.items()}
                                if path == "served" else {})})
                log.info("%s, %s: HR@10 %.4f", row_label, path, metrics["HR@10"])
    return rows


def _rows_of(label: str, replay) -> np.ndarray:
    """The steps a new-user row label covers (``k=3 ...`` or ``1-5 events known``)."""
    from driftrec.evaluation.replay import NEW_USER_BUCKETS

    for name, lo, hi in NEW_USER_BUCKETS:
        if label.endswith(name):
            return (replay.known >= lo) & (replay.known <= hi)
    if "k=" in label:
        k = int(label.split("k=")[1].split()[0])
        return replay.known == k
    return np.ones(len(replay), dtype=bool)


if __name__ == "__main__":
    main()
