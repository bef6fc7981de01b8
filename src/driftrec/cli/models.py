"""``driftrec train``, ``driftrec recommend``, ``driftrec evaluate`` and ``driftrec models``."""

from __future__ import annotations

import csv
import json
import logging
import shlex
import sys
from pathlib import Path

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from driftrec.cli.common import (
    budget_options,
    checked_model_config,
    fail,
    parse_budget,
    parse_ks,
    read_config,
)
from driftrec.data import movielens
from driftrec.data.dataset import Histories
from driftrec.data.errors import DataError
from driftrec.data.readers import load_dataset
from driftrec.evaluation import report, runner
from driftrec.evaluation.metrics import top_k
from driftrec.models.bundle import load_bundle, save_bundle
from driftrec.models.popularity import Popularity
from driftrec.models.registry import ALIASES, MODELS, config_class, create_model, resolve_name
from driftrec.models.sequence import distributed
from driftrec.utils.resources import measure

log = logging.getLogger(__name__)


def train(
    events: str = typer.Option(..., help="Events file (CSV/TSV/JSONL/Parquet/.inter) "
                               "or a dataset name (ml-1m, ml-100k)."),
    model: str = typer.Option("default", help="Registered model name, or 'default'."),
    out: Path = typer.Option(..., help="Directory for the trained model."),
    items: Path | None = typer.Option(None, help="Items file: every listed item is in the "
                                      "catalogue, events or not."),
    users: Path | None = typer.Option(None, help="Users file (optional attributes)."),
    config: Path | None = typer.Option(None, help="TOML/JSON with [model] settings."),
    budget: str | None = typer.Option(None, help="Training time budget, e.g. 90s, 5m, 1h "
                                      "(the sequence model's time_budget_min; Ctrl-C also "
                                      "stops training and keeps the best weights)."),
    unknown_items: str = typer.Option("error", help="Events naming items missing from "
                                      "--items: 'error' or 'warn' (drop and count)."),
    strict: bool = typer.Option(False, help="Stop at the first malformed row."),
    min_value: float | None = typer.Option(None, help="Keep events with value >= this."),
    core: int = typer.Option(0, help="k-core filter (0: off)."),
) -> None:
    """Fit a model and write it, with its catalogue, to --out.

    Under ``torchrun --nproc-per-node N --no-python driftrec train ...`` the sequence
    network trains across the N processes (DistributedDataParallel over gloo).
    """
    if unknown_items not in ("error", "warn"):
        raise fail("--unknown-items must be 'error' or 'warn'")
    options = checked_model_config(read_config(config), model, config)
    if budget is not None:
        options = budget_options(model, options, parse_budget(budget))
    try:
        if events in movielens.DATASETS:
            dataset = movielens.load_movielens(events)
        else:
            dataset, clean_report = load_dataset(events, items, users, unknown_items=unknown_items,
                                                  strict=strict, min_value=min_value, core=core)
            Console(stderr=True).print(str(clean_report))
        estimator = create_model(model, **options)
    except (DataError, ValueError) as exc:
        raise fail(str(exc)) from None
    log.info("training %s on %s: %d users, %d items, %d events", estimator.name, dataset.name,
             dataset.n_users, dataset.n_items, len(dataset.events))
    with distributed.process_group() as (rank, n_processes), measure() as usage:
        estimator.fit(dataset)
    if rank > 0:  # under torchrun every process holds the same model; rank 0 writes it
        return
    save_bundle(estimator, dataset, out, fit_seconds=round(usage.seconds, 2),
                peak_rss_mb=round(usage.peak_rss_mb, 1), processes=n_processes)
    Console(stderr=True).print(f"trained {estimator.name} in {usage.seconds:.1f}s -> {out}")


def _read_user_list(users: str, known: np.ndarray) -> list[str]:
    if users == "all":
        return [str(u) for u in known]
    path = Path(users)
    if not path.exists():
        raise fail(f"--users: file {users} does not exist (or pass 'all')")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def recommend(
    model_dir: Path = typer.Option(..., help="Directory written by `driftrec train`."),
    users: str = typer.Option("all", help="File with one user id per line, or 'all'."),
    k: int = typer.Option(10, min=1, help="Items per user."),
    include_seen: bool = typer.Option(False, help="Allow items the user already has."),
    fmt: str = typer.Option("jsonl", "--format", help="jsonl or csv."),
    batch_size: int = typer.Option(1024, min=1),
) -> None:
    """Top-k items per user to stdout, with the caller's original ids."""
    if fmt not in ("jsonl", "csv"):
        raise fail("--format must be jsonl or csv")
    try:
        model, dataset = load_bundle(model_dir)
    except FileNotFoundError as exc:
        raise fail(str(exc)) from None
    user_ids = _read_user_list(users, dataset.user_ids)
    rows = dataset.user_index(user_ids, missing=-1)
    # Users with no events (or unknown ids) get an empty history: the model's cold path.
    histories = Histories.from_events(dataset.events, rows)
    item_ids = dataset.item_ids
    popularity = Popularity().fit(dataset).scores_
    out = sys.stdout
    writer = csv.writer(out) if fmt == "csv" else None
    if writer:
        writer.writerow(["user_id", "rank", "item_id", "score"])
    for start in range(0, len(user_ids), batch_size):
        batch = histories.subset(slice(start, start + batch_size))
        scores = np.asarray(model.score(batch), dtype=np.float32).copy()
        # A model with nothing to say about a user (all scores equal) falls back to popularity.
        flat = np.ptp(scores, axis=1) == 0
        scores[flat] = popularity
        if not include_seen:
            r, c = batch.to_csr(dataset.n_items).nonzero()
            scores[r, c] = -np.inf
        lists = top_k(scores, k)
        for offset, items_row in enumerate(lists):
            uid = user_ids[start + offset]
            item_scores = scores[offset, items_row]
            keep = np.isfinite(item_scores)
            ids = [str(x) for x in item_ids[items_row[keep]]]
            vals = [round(float(s), 6) for s in item_scores[keep]]
            if writer:
                for rank, (iid, s) in enumerate(zip(ids, vals, strict=True), start=1):
                    writer.writerow([uid, rank, iid, s])
            else:
                out.write(json.dumps({"user_id": uid, "items": ids, "scores": vals}) + "\n")


def evaluate(
    dataset: str = typer.Option("ml-1m", help="ml-1m, ml-100k, or an events file."),
    items: Path | None = typer.Option(None, help="Items file for an events file."),
    protocol: str = typer.Option("loo", help=", ".join(runner.PROTOCOLS) + " (see "
                                 "docs/evaluation.md)."),
    models: str = typer.Option("pop,itemknn,ease", help="Comma-separated model names."),
    k: str = typer.Option("10,20,50", "--k", help="Cut-offs, comma-separated."),
    config: Path | None = typer.Option(None, help="TOML/JSON with [models.NAME] settings."),
    out: Path = typer.Option(Path("runs"), help="Folder for the JSON and Markdown results."),
    seed: int = typer.Option(0, help="Seed for the cold-user/cold-item draws."),
) -> None:
    """Fit each model on the protocol's training split and print the full-ranking table."""
    from driftrec.cli.data import load_any

    ks = parse_ks(k)
    names = [m.strip() for m in models.split(",") if m.strip()]
    cfg = read_config(config)
    configs = {n: checked_model_config(cfg, n, config) for n in names}
    try:
        data = load_any(dataset, items)
        rows = runner.run(data, protocol, names, ks=ks, seed=seed, configs=configs)
    except (DataError, ValueError) as exc:
        raise fail(str(exc)) from None
    columns = ["protocol", "model", *report.headline_columns(ks), *report.RESOURCE_COLUMNS]
    title = f"{data.name}, {protocol}, full ranking, seen items excluded"
    report.print_table(rows, columns, title)
    stem = f"{data.name}-{protocol}"
    paths = report.write_results(rows, columns, out, stem, title=title,
                                 protocol={"dataset": data.name, "protocol": protocol,
                                           "ks": list(ks), "exclude_seen": True,
                                           "tie_order": "stable", "seed": seed,
                                           "command": "driftrec " + shlex.join(sys.argv[1:])})
    Console(stderr=True).print(f"results: {paths[0]} {paths[1]}")


def models(
    name: str | None = typer.Argument(None, help="One model (default: every registered "
                                      "model)."),
) -> None:
    """List the registered models and their options: name, type, default, description.

    These are the keys of the ``[model]`` / ``[models.NAME]`` tables of ``--config``.
    """
    try:
        names = [resolve_name(name)] if name else list(MODELS)
        classes = {n: config_class(n) for n in names}
    except ValueError as exc:
        raise fail(str(exc)) from None
    aliases = {target: alias for alias, target in ALIASES.items()}
    console = Console()
    for key, cls in classes.items():
        title = f"{key} ({aliases[key]})" if key in aliases else key
        doc = (cls.__doc__ or "").strip().split("\n")[0].replace("``", "")
        options = cls.options()
        if not options:
            console.print(f"[bold]{title}[/]: no options")
            continue
        table = Table(title=title, caption=doc, title_justify="left")
        table.add_column("option", style="bold")
        table.add_column("type")
        table.add_column("default")
        table.add_column("description")
        for row in options:
            table.add_row(row["name"], row["type"], row["default"], row["description"])
        console.print(table)


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.command()(recommend)
    app.command()(evaluate)
    app.command("models")(models)
