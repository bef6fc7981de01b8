"""``python -m driftrec`` runs the CLI."""

from driftrec.cli import app

app()
