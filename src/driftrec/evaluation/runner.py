"""Fit and evaluate models by name under a protocol: the one path behind
``driftrec evaluate`` and the benchmark scripts."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from driftrec.data.dataset import Dataset
from driftrec.data.splits import (
    Split,
    cold_item_split,
    leave_one_out,
    temporal_split,
    truncated_user_split,
)
from driftrec.evaluation import replay as rp
from driftrec.evaluation.evaluate import DEFAULT_KS, evaluate_detailed
from driftrec.models.base import Recommender
from driftrec.models.registry import create_model, resolve_name
from driftrec.utils.resources import Usage, measure

log = logging.getLogger(__name__)

#: ``cold-user``: new users, absent from training, from their first k events (see
#: :mod:`driftrec.evaluation.replay`); ``truncated-user``: training users cut to their first
#: k events, predicting their *last* event (often years later; kept for comparison).
PROTOCOLS = ("loo", "temporal", "cold-user", "cold-item", "streaming", "truncated-user")
TRUNCATED_USER_KS = (1, 3, 5)


REPLAY_PROTOCOLS = ("streaming", "cold-user")


@dataclass
class Case:
    """One split to evaluate on, plus an optional filter of its test targets."""

    label: str
    split: Split
    target_filter: Callable | None = None


def protocol_cases(dataset: Dataset, protocol: str, *, seed: int = 0) -> list[Case]:
    if protocol == "loo":
        return [Case("loo", leave_one_out(dataset))]
    if protocol == "temporal":
        return [Case("temporal", temporal_split(dataset))]
    if protocol == "truncated-user":
        return [Case(f"truncated-user first {k}, last event",
                     truncated_user_split(dataset, keep_first=k, seed=seed))
                for k in TRUNCATED_USER_KS]
    if protocol == "cold-item":
        split = cold_item_split(dataset, seed=seed)
        cold = set(split.info["cold_items"].tolist())
        return [
            Case("cold-item: all targets", split),
            Case("cold-item: cold targets", split,
                 lambda t: t[t["item_idx"].isin(cold)]),
        ]
    raise ValueError(f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}")


@dataclass
class ReplayCase:
    """A prequential protocol: one training set, labelled replays to score on it, and how
    to turn one replay's ranks into table rows."""

    train: Dataset
    replays: dict[str, rp.Replay]
    rows: Callable[[str, np.ndarray, rp.Replay, tuple[int, ...]],
                   list[tuple[str, dict[str, float]]]]


def replay_case(dataset: Dataset, protocol: str, *, seed: int = 0, stage: str = "test"
                ) -> ReplayCase:
    if protocol == "streaming":
        train, live, frozen = rp.streaming_replay(dataset, seed=seed)
        return ReplayCase(train, {"updated on every event": live, "frozen at the cut": frozen},
                          lambda label, ranks, _, ks: [(f"streaming, {label}",
                                                        rp.rank_summary(ranks, ks))])
    if protocol == "cold-user":
        train, steps = rp.new_user_replay(dataset, seed=seed, stage=stage)
        return ReplayCase(train, {"new users": steps},
                          lambda _, ranks, replay, ks: [
                              (f"cold-user {label}", metrics)
                              for label, metrics in rp.new_user_rows(ranks, replay, ks)])
    raise ValueError(f"{protocol!r} is not a replay protocol")


def run(
    dataset: Dataset,
    protocol: str,
    models: list[str],
    *,
    ks: tuple[int, ...] = DEFAULT_KS,
    configs: dict[str, dict[str, Any]] | None = None,
    seed: int = 0,
    progress: bool = True,
    fitted: dict[str, tuple[Recommender, float]] | None = None,
) -> list[dict[str, Any]]:
    """One row per (case, model): every metric plus fit/eval seconds and peak memory.

    ``fitted`` maps a model name to a model already trained on this protocol's training
    split and the seconds its training took (e.g. a saved bundle); it is evaluated as is.
    Ctrl-C stops the run and returns the rows finished so far.
    """
    configs = configs or {}
    rows: list[dict[str, Any]] = []
    try:
        _run_cases(dataset, protocol, models, ks, configs, seed, progress, rows, fitted or {})
    except KeyboardInterrupt:
        log.warning("interrupted: returning the %d finished results", len(rows))
    return rows


def _run_cases(dataset: Dataset, protocol: str, models: list[str], ks: tuple[int, ...],
               configs: dict[str, dict[str, Any]], seed: int, progress: bool,
               rows: list[dict[str, Any]],
               fitted: dict[str, tuple[Recommender, float]]) -> None:
    if protocol in REPLAY_PROTOCOLS:
        _run_replay(replay_case(dataset, protocol, seed=seed), models, ks, configs, progress,
                    rows)
        return
    for case in protocol_cases(dataset, protocol, seed=seed):
        for name in models:
            if name in fitted:
                model, fit_s = fitted[name]
                fit_usage = Usage(seconds=fit_s, peak_rss_mb=0.0)
            else:
                config = configs.get(name, configs.get(resolve_name(name), {}))
                model = create_model(name, **config)
                log.info("[%s] fitting %s", case.label, name)
                with measure() as fit_usage:
                    model.fit(case.split.train)
            targets = case.split.test if case.target_filter is None else case.target_filter(
                case.split.test)
            with measure() as eval_usage:
                result = evaluate_detailed(model, case.split, ks=ks, targets=targets,
                                           progress=progress)
            rows.append({
                "protocol": case.label,
                "model": name,
                **result.metrics,
                "fit_s": fit_usage.seconds,
                "eval_s": eval_usage.seconds,
                "peak_rss_mb": max(fit_usage.peak_rss_mb, eval_usage.peak_rss_mb),
            })
            log.info("[%s] %s: %s", case.label, name,
                     {k: round(v, 4) for k, v in result.metrics.items() if k.endswith("@10")})


def _run_replay(case: ReplayCase, models: list[str], ks: tuple[int, ...],
                configs: dict[str, dict[str, Any]], progress: bool,
                rows: list[dict[str, Any]]) -> None:
    """One fit per model serves every replay of the case."""
    for name in models:
        config = configs.get(name, configs.get(resolve_name(name), {}))
        model = create_model(name, **config)
        log.info("fitting %s on %d events", name, len(case.train.events))
        with measure() as fit_usage:
            model.fit(case.train)
        for label, replay in case.replays.items():
            with measure() as eval_usage:
                ranks = rp.replay_ranks(model, replay, max_k=max(ks),
                                        progress=f"{name}, {label}" if progress else None)
            for row_label, metrics in case.rows(label, ranks, replay, ks):
                rows.append({"protocol": row_label, "model": name, **metrics,
                             "fit_s": fit_usage.seconds, "eval_s": eval_usage.seconds,
                             "peak_rss_mb": max(fit_usage.peak_rss_mb,
                                                eval_usage.peak_rss_mb)})
                log.info("[%s] %s: HR@10 %.4f", row_label, name, metrics.get("HR@10", np.nan))
