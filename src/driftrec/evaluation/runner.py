"""Fit and evaluate models by name under a protocol: the one path behind
``driftrec evaluate`` and the benchmark scripts."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from driftrec.data.dataset import Dataset
from driftrec.data.splits import (
    Split,
    cold_item_split,
    cold_user_split,
    leave_one_out,
    temporal_split,
)
from driftrec.evaluation.evaluate import DEFAULT_KS, evaluate_detailed
from driftrec.models.registry import create_model, resolve_name
from driftrec.utils.resources import measure

log = logging.getLogger(__name__)

PROTOCOLS = ("loo", "temporal", "cold-user", "cold-item")
COLD_USER_KS = (1, 3, 5)


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
    if protocol == "cold-user":
        return [Case(f"cold-user first {k}", cold_user_split(dataset, keep_first=k, seed=seed))
                for k in COLD_USER_KS]
    if protocol == "cold-item":
        split = cold_item_split(dataset, seed=seed)
        cold = set(split.info["cold_items"].tolist())
        return [
            Case("cold-item: all targets", split),
            Case("cold-item: cold targets", split,
                 lambda t: t[t["item_idx"].isin(cold)]),
        ]
    raise ValueError(f"unknown protocol {protocol!r}; use one of {PROTOCOLS}")


def run(
    dataset: Dataset,
    protocol: str,
    models: list[str],
    *,
    ks: tuple[int, ...] = DEFAULT_KS,
    configs: dict[str, dict[str, Any]] | None = None,
    seed: int = 0,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """One row per (case, model): every metric plus fit/eval seconds and peak memory.

    Ctrl-C stops the run and returns the rows finished so far.
    """
    configs = configs or {}
    rows: list[dict[str, Any]] = []
    try:
        _run_cases(dataset, protocol, models, ks, configs, seed, progress, rows)
    except KeyboardInterrupt:
        log.warning("interrupted: returning the %d finished results", len(rows))
    return rows


def _run_cases(dataset: Dataset, protocol: str, models: list[str], ks: tuple[int, ...],
               configs: dict[str, dict[str, Any]], seed: int, progress: bool,
               rows: list[dict[str, Any]]) -> None:
    for case in protocol_cases(dataset, protocol, seed=seed):
        for name in models:
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
