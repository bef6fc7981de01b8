"""The fused model (``default``) under cold-user, cold-item and streaming protocols.

The fused model is built by name and trained with ``fit`` exactly as ``driftrec train
--model default`` does, with the same TOML/JSON ``--config`` (``[model]``,
``[models.default]``, ``[models.fused]``). A fused training is the expensive step (about
30 minutes on ML-1M on a 2-core CPU with the default schedule), so each protocol trains it
once; its components and ``with_signals`` ablations are evaluated from that one training,
and ``content`` and ``pop`` (seconds to fit) are trained on the same events for comparison.

* ``cold-user``: the users that ``truncated_user_split(seed=0)`` draws (10%; the draw does not
  depend on ``keep_first``, which is checked) lose *every* event from the training data;
  the models then score them from their first 1, 3 or 5 events and are evaluated on their
  usual leave-one-out test event. This is not ``bench_content.py``'s cold-user protocol,
  where the cold users' first k events are part of training (a training per k): here one
  training serves every k, and the users are truly unseen, as a new user is when they
  arrive at the live service (the sequence and interest models read the history at score
  time; no model has a user embedding). Rows: fused, fused without ``transfer`` (weights
  refitted, no retraining), the fused model's sequence component, content, pop.
* ``cold-item``: ``cold_item_split(seed=0)``: 10% of items (``--item-fraction``) lose
  every training event and keep their text. All test targets and cold targets only, for
  fused (and, from the same training, fused with ``place_untrained`` off), its
  ``sasrec-text`` component (ID + text features: an item with no events is ranked by its
  text), content and pop (trained on the same split). The
  fused model re-ranks the sequence model's top ``candidates`` and puts every other item
  below them, so a cold target outside those candidates cannot reach a fused top-K:
  ``HR@<candidates>`` of the fused row is the share of targets among its candidates, the
  ceiling of every fused HR@K, and the results say how many cold targets are reachable.
* ``streaming``: training on events before the 0.9 time quantile, then the replay of
  ``driftrec evaluate --protocol streaming`` (``evaluation/replay.py``: a seeded sample of
  users; before each later event the catalogue is ranked) with the history updated on
  every event vs frozen at the cut. Rows: fused, its sequence component, content, pop.

Full ranking, seen items excluded. Writes
``benchmarks/results/fused-<protocol>-<dataset>.{json,md}`` (with ``--tag T``:
``fused-<protocol>-<dataset>-T``, so that a ``--config`` variant keeps the default's files).

    .venv/bin/python benchmarks/bench_fused_protocols.py --dataset ml-1m \\
        [--protocols cold-user,cold-item,streaming] [--config fused.toml] [--tag T]
"""

from __future__ import annotations

import argparse
import copy
import logging
import time
from typing import Any

import numpy as np

import harness
from driftrec.cli.common import model_config, read_config
from driftrec.data.dataset import Dataset
from driftrec.data.movielens import load_movielens
from driftrec.data.schema import ITEM_IDX, USER_IDX
from driftrec.data.splits import Split, cold_item_split, truncated_user_split
from driftrec.evaluation.ablation import PrecomputedFeatures, fused_features
from driftrec.evaluation.evaluate import EvaluationResult, evaluate_detailed
from driftrec.evaluation.runner import TRUNCATED_USER_KS
from driftrec.models.base import Recommender
from driftrec.models.fusion import FusedRecommender
from driftrec.models.registry import create_model
from driftrec.text.catalogue import embed_items
from driftrec.utils.resources import measure

KS = harness.KS
PROTOCOLS = ("cold-user", "cold-item", "streaming")
BASELINES = ("content", "pop")
SEED = 0
METRICS = [f"{m}@{k}" for k in KS for m in ("HR", "NDCG")]
log = logging.getLogger("bench_fused_protocols")


# -- training ---------------------------------------------------------------------------
def fit_fused(train: Dataset, config: dict[str, Any]) -> tuple[FusedRecommender, dict]:
    """``driftrec train --model default``'s path: ``create_model`` then ``fit``."""
    model = create_model("default", **config)
    if not isinstance(model, FusedRecommender):
        raise TypeError(f"'default' is {type(model).__name__}; this benchmark needs 'fused'")
    log.info("fitting fused on %d events", len(train.events))
    with measure() as usage:
        model.fit(train)
    info: dict[str, Any] = {"fit_s": usage.seconds, "fit_peak_rss_mb": usage.peak_rss_mb}
    seq_report = getattr(model.sequence, "report", None)
    if seq_report is not None:
        info["epochs"] = seq_report.epochs
    log.info("fused fitted in %.0fs; weights %s", usage.seconds, model.weights())
    return model, info


def fit_baselines(train: Dataset, configs: dict[str, dict]) -> dict[str, tuple[Recommender,
                                                                             dict]]:
    """``content`` and ``pop`` on the same events: cheap references for every protocol."""
    out = {}
    for name in BASELINES:
        model = create_model(name, **configs.get(name, {}))
        with measure() as usage:
            model.fit(train)
        out[name] = (model, {"fit_s": usage.seconds})
    return out


def sequence_label(model: FusedRecommender) -> str:
    return f"fused: {model.sequence.name} component"


def fused_details(model: FusedRecommender, info: dict) -> dict[str, Any]:
    """What the results record about the one fused training of a protocol."""
    details: dict[str, Any] = {"fused_fit": info, "fused_config": model.config,
                               "weights": model.weights(), "fusion_rows": model.fit_info}
    if model.sequence is not None:
        details["sequence_config"] = model.sequence.config
    return details


# -- evaluation -------------------------------------------------------------------------
def evaluate(model: Recommender, split: Split, ks: tuple[int, ...] = KS
             ) -> tuple[EvaluationResult, float]:
    with measure() as usage:
        result = evaluate_detailed(model, split, ks=ks, progress=True)
    return result, usage.seconds


def subset_metrics(result: EvaluationResult, users: np.ndarray) -> dict[str, float]:
    """Mean per-user metrics over ``users``.

    Leave-one-out gives each user one test target, so this equals evaluating only those
    targets, without scoring the users a second time.
    """
    per_user = result.per_user[result.per_user[USER_IDX].isin(users)]
    if (per_user["n_targets"] != 1).any():
        raise ValueError("subset metrics need exactly one test target per user")
    out = {c: float(per_user[c].mean()) for c in per_user.columns if "@" in c}
    out["users"] = len(per_user)
    return out


# -- protocols --------------------------------------------------------------------------
def cold_users(splits: dict[int, Split]) -> np.ndarray:
    """The cold users, checked to be the same for every ``keep_first``."""
    drawn = {k: np.unique(s.test[USER_IDX].to_numpy()) for k, s in splits.items()}
    first = next(iter(drawn.values()))
    if any(not np.array_equal(first, users) for users in drawn.values()):
        raise RuntimeError("truncated_user_split drew different users for different keep_first")
    return first


def bench_cold_user(dataset: Dataset, config: dict, configs: dict) -> tuple[list[dict], dict]:
    """One training without the cold users; each k only changes the histories scored."""
    splits = {k: truncated_user_split(dataset, keep_first=k, seed=SEED) for k in TRUNCATED_USER_KS}
    cold = cold_users(splits)
    events = splits[TRUNCATED_USER_KS[0]].train.events
    train = dataset.with_events(events[~events[USER_IDX].isin(cold)])
    log.info("cold-user: %d users removed from training (%d events left)", len(cold),
             len(train.events))
    fused, info = fit_fused(train, config)
    baselines = fit_baselines(train, configs)
    no_transfer = (fused.with_signals([s for s in fused.signals if s != "transfer"])
                   if "transfer" in fused.signals and len(fused.signals) > 1 else None)
    rows = []
    for k, split in splits.items():
        histories = split.histories("test")
        longest = max(len(h) for h in histories.items)
        if longest > k:
            raise RuntimeError(f"a cold user has {longest} history events, expected <= {k}")
        feats = fused_features(fused, histories)
        models: dict[str, tuple[Recommender, dict]] = {
            "fused": (PrecomputedFeatures(fused, feats, histories.users), info)}
        if no_transfer is not None:
            models["fused without transfer"] = (
                PrecomputedFeatures(no_transfer, feats, histories.users),
                {"weights": no_transfer.weights()})
        if fused.sequence is not None:
            models[sequence_label(fused)] = (fused.sequence, {})
        models.update(baselines)
        for label, (model, extra) in models.items():
            result, seconds = evaluate(model, split)
            rows.append({"protocol": f"cold-user first {k}", "model": label, **result.metrics,
                         "users": len(histories), **extra, "eval_s": seconds})
            log.info("cold-user first %d, %s: HR@10 %.4f NDCG@10 %.4f", k, label,
                     result.metrics["HR@10"], result.metrics["NDCG@10"])
    details = {"cold_users": len(cold), "user_fraction": 0.1, "keep_first": list(TRUNCATED_USER_KS),
               "seed": SEED, "training": "leave-one-out training events minus every event "
               "of the cold users (one training for every k)",
               "note": "unlike bench_content.py's cold-user protocol (first k events in "
               "training, a training per k), the cold users are absent from training and "
               "scored from their first k events: one training serves every k, as a new user "
               "meets the live service", **fused_details(fused, info)}
    return rows, details


def bench_cold_item(dataset: Dataset, config: dict, configs: dict, *,
                    item_fraction: float = 0.1) -> tuple[list[dict], dict]:
    """One scoring pass per model; the cold-target rows are its per-user subset."""
    split = cold_item_split(dataset, item_fraction=item_fraction, seed=SEED)
    cold = split.info["cold_items"]
    cold_target_users = split.test.loc[split.test[ITEM_IDX].isin(cold), USER_IDX].to_numpy()
    fused, info = fit_fused(split.train, config)
    n_cands = int(fused.config["candidates"]) if fused.sequence is not None else 0
    ks = (*KS, n_cands) if n_cands > max(KS) else KS
    models: dict[str, tuple[Recommender, dict]] = {"fused": (fused, info)}
    if fused.config["place_untrained"]:
        # the same training, the cold items left where the fused score puts them
        fusion_order = copy.copy(fused)
        fusion_order.settings = fused.settings.model_copy(update={"place_untrained": False})
        models["fused, cold items in fusion order"] = (fusion_order, {})
    if fused.sequence is not None:
        models[sequence_label(fused)] = (fused.sequence, {})
    models.update(fit_baselines(split.train, configs))  # the same split, the same scoring
    all_rows, cold_rows = [], []
    for label, (model, extra) in models.items():
        result, seconds = evaluate(model, split, ks)
        all_rows.append({"subset": "all targets", "model": label, **result.metrics,
                         "users": int(result.metrics["users"]), **extra, "eval_s": seconds})
        cold_rows.append({"subset": "cold targets", "model": label,
                          **subset_metrics(result, cold_target_users)})
        log.info("cold-item, %s: HR@10 %.4f (cold targets %.4f)", label,
                 result.metrics["HR@10"], cold_rows[-1]["HR@10"])
    details: dict[str, Any] = {"item_fraction": split.info["item_fraction"], "seed": SEED,
                               "cold_items": len(cold), "cold_targets": len(cold_target_users),
                               **fused_details(fused, info)}
    if n_cands > max(KS):
        reachable = cold_rows[0][f"HR@{n_cands}"]
        details["note"] = (
            f"the fused model ranks only the sequence model's top {n_cands} unseen items "
            f"(every other item below them); {reachable:.1%} of cold test targets are among "
            f"them, so no fused HR@K on cold targets can exceed that (fused HR@{n_cands} is "
            f"this share)")
        if reachable == 0:
            log.warning("no cold target is among the fused candidates: cold items are "
                        "unreachable for the fused model")
        log.info("cold-item: %s", details["note"])
    return all_rows + cold_rows, details


def bench_fused_streaming(dataset: Dataset, config: dict, configs: dict, *, users: int,
                          per_user: int) -> tuple[list[dict], dict]:
    """The streaming replay, with one fused training serving four models' rows."""
    trained: dict[str, Any] = {}

    def fit(train: Dataset) -> dict[str, Recommender]:
        fused, info = fit_fused(train, config)
        trained.update(fused=fused, info=info)
        models: dict[str, tuple[Recommender, dict]] = {"fused": (fused, info)}
        if fused.sequence is not None:
            models[sequence_label(fused)] = (fused.sequence, {})
        models.update(fit_baselines(train, configs))
        trained["extra"] = {label: extra for label, (_, extra) in models.items()}
        return {label: model for label, (model, _) in models.items()}

    rows = harness.streaming_rows(dataset, fit, users=users, per_user=per_user, seed=SEED)
    for row in rows:
        row.update(trained["extra"][row["model"]])
    details = {"cut_quantile": 0.9, "cut": rows[0]["cut"], "users_requested": users,
               "per_user": per_user, "seed": SEED,
               **fused_details(trained["fused"], trained["info"])}
    return rows, details


# -- command line -----------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    harness.add_common_args(
        parser, dataset="ml-1m",
        config="TOML/JSON with [models.fused] settings (as for driftrec train)",
        tag="write to fused-<protocol>-<dataset>-<tag> (a --config variant)")
    parser.add_argument("--protocols", default=",".join(PROTOCOLS))
    parser.add_argument("--stream-users", type=int, default=300)
    parser.add_argument("--stream-per-user", type=int, default=20)
    parser.add_argument("--item-fraction", type=float, default=0.1,
                        help="cold-item: the share of items made cold")
    args = parser.parse_args()
    harness.setup_logging()
    protocols = [p for p in args.protocols.split(",") if p]
    unknown = sorted(set(protocols) - set(PROTOCOLS))
    if unknown:
        parser.error(f"unknown protocol(s) {unknown}; use {','.join(PROTOCOLS)}")
    raw = read_config(args.config)
    config = model_config(raw, "default")
    configs = raw.get("models", {})
    dataset = load_movielens(args.dataset)
    # Warm the embedding cache once, outside the timings.
    embed_items(dataset, config.get("encoder", "minilm"))
    for protocol in protocols:
        start = time.perf_counter()
        if protocol == "streaming":
            rows, details = bench_fused_streaming(dataset, config, configs,
                                                  users=args.stream_users,
                                                  per_user=args.stream_per_user)
            columns = ["model", "state", "users", "events", *METRICS, "fit_s", "eval_s"]
        elif protocol == "cold-user":
            rows, details = bench_cold_user(dataset, config, configs)
            columns = ["protocol", "model", *METRICS, "users", "fit_s", "eval_s"]
        else:
            rows, details = bench_cold_item(dataset, config, configs,
                                            item_fraction=args.item_fraction)
            extra = sorted({c for r in rows for c in r if c.startswith("HR@")} - set(METRICS))
            columns = ["subset", "model", *METRICS, *extra, "users", "fit_s", "eval_s"]
        wall = time.perf_counter() - start
        log.info("%s took %.0fs", protocol, wall)
        title = (f"Fused model on {args.dataset}: {protocol} (one fused training; components "
                 f"and ablations share it)")
        meta = {"dataset": args.dataset, "protocol": protocol, "ranking": "full",
                "exclude_seen": True, "ks": list(KS), "config": config,
                "config_file": str(args.config) if args.config else None, **details,
                "wall_s": round(wall, 1)}
        stem = f"fused-{protocol}-{args.dataset}" + (f"-{args.tag}" if args.tag else "")
        paths = harness.write_results(rows, columns, stem, title=title, protocol=meta)
        log.info("wrote %s and %s", *paths)


if __name__ == "__main__":
    main()
