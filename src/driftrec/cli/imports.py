"""``driftrec import``: bulk-load historical events into the service's store."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from driftrec.cli.common import fail

if TYPE_CHECKING:
    from driftrec.service.core import ServiceCore
    from driftrec.service.importer import ImportSummary

log = logging.getLogger(__name__)

_STAGES = {"encode": "embedding event texts", "import": "importing events"}


def run_import(core: ServiceCore, events: str, *, batch_rows: int,
               skip_existing_users: bool, ray: str | None = None,
               ray_workers: int = 2) -> ImportSummary:
    """Import with progress bars on stderr, print the summary; exit 2 on bad input and
    130 when interrupted (whole committed batches stay)."""
    from driftrec.data.errors import DataError
    from driftrec.service.importer import PartialImport, import_events

    console = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=console,
                  transient=False) as bars:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(_STAGES.get(stage, stage), total=total)
            bars.update(tasks[stage], completed=done, total=total)

        try:
            summary = import_events(core, events, batch_rows=batch_rows,
                                    skip_existing_users=skip_existing_users,
                                    progress=progress, ray=ray, ray_workers=ray_workers)
        except PartialImport as exc:
            raise fail(str(exc)) from None
        except DataError as exc:
            raise fail(f"{exc}; nothing was imported") from None
    table = Table(title=f"import of {summary.source}" + (" (interrupted)"
                                                          if summary.interrupted else ""))
    for column in ("events stored", "duplicates", "users", "skipped users", "seconds",
                   "events/s"):
        table.add_column(column, justify="right")
    rate = summary.events / summary.seconds if summary.seconds else 0.0
    table.add_row(f"{summary.events:,}", f"{summary.duplicates:,}", f"{summary.users:,}",
                  f"{summary.skipped_users:,}", f"{summary.seconds:.1f}", f"{rate:,.0f}")
    console.print(table)
    if ray is not None:
        console.print(f"interest states of {summary.ray_users:,} users built on Ray "
                      f"({ray_workers} workers), the others in this process")
    if summary.interrupted:
        raise typer.Exit(130)
    return summary


def import_command(
    events: str = typer.Option(..., help="Events file (CSV/TSV/JSONL/Parquet/.inter) or a "
                               "dataset name (ml-1m, ml-100k); an event_id column makes a "
                               "re-import add nothing."),
    db: str | None = typer.Option(None, help="Database URL (default: DRIFTREC_DATABASE_URL "
                                  "or sqlite:///./driftrec.db)."),
    model_dir: Path | None = typer.Option(None, help="Model whose interest settings build "
                                          "the states (it becomes the served one, as with "
                                          "serve); default: the model the database serves."),
    encoder: str | None = typer.Option(None, help="Text encoder: minilm, use, hashing or a "
                                       "sentence-transformers folder (as the service)."),
    config: Path | None = typer.Option(None, help="TOML settings file (DRIFTREC_* names)."),
    skip_existing_users: bool = typer.Option(
        False, help="Leave out users who already have a stored state (resumes an "
        "interrupted import of a file without event ids)."),
    batch_rows: int = typer.Option(20_000, min=1, help="Events per transaction (whole "
                                   "users)."),
    ray: str | None = typer.Option(None, "--ray", help="Build the interest states on Ray: "
                                   "auto (this machine's cluster, or a local one), local, or "
                                   "a cluster address (ray://host:10001); default: in this "
                                   "process. Writes stay in this process."),
    ray_workers: int = typer.Option(2, min=1, help="State-building actors on Ray (one CPU "
                                    "each)."),
) -> None:
    """Import historical events: stored, and interest states built as the live path does."""
    from driftrec.config import load_settings
    from driftrec.service.core import ServiceCore

    settings = load_settings(config, database_url=db, model_dir=model_dir, encoder=encoder)
    core = ServiceCore(settings)
    try:
        run_import(core, events, batch_rows=batch_rows,
                   skip_existing_users=skip_existing_users, ray=ray, ray_workers=ray_workers)
    finally:
        core.close()


def register(app: typer.Typer) -> None:
    app.command("import")(import_command)
