"""The ``driftrec`` command: one entry point, one subcommand module per area."""

from __future__ import annotations

import logging
import os

import typer
from rich.logging import RichHandler

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

app = typer.Typer(
    name="driftrec",
    help="Recommendations from a living, language-model user interest state.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(show_path=False, rich_tracebacks=False)],
        force=True,
    )


def _register_all() -> None:
    from driftrec.cli import data, imports, interest, models, quickstart, serve

    data.register(app)
    imports.register(app)
    interest.register(app)
    models.register(app)
    quickstart.register(app)
    serve.register(app)


_register_all()
