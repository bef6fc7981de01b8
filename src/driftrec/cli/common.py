"""Helpers shared by subcommands: config files and friendly failures."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def read_config(path: Path | None) -> dict[str, Any]:
    """A TOML or JSON file of model settings; ``[model]`` / ``[models.NAME]`` tables."""
    if path is None:
        return {}
    if not path.exists():
        raise fail(f"config file {path} does not exist")
    text = path.read_text()
    try:
        raw = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except ValueError as exc:  # TOMLDecodeError and JSONDecodeError
        raise fail(f"config file {path} cannot be read: {exc}") from None
    if not isinstance(raw, dict):
        raise fail(f"config file {path} must hold a table of settings")
    return raw


def parse_ks(text: str) -> tuple[int, ...]:
    try:
        ks = tuple(sorted({int(k) for k in text.split(",") if k.strip()}))
    except ValueError:
        raise fail(f"--k must be comma-separated integers, got {text!r}") from None
    if not ks or min(ks) < 1:
        raise fail(f"--k values must be positive, got {text!r}")
    return ks


def model_config(config: dict[str, Any], name: str) -> dict[str, Any]:
    """Settings for model ``name``: ``[model]``, then ``[models.NAME]`` and
    ``[models.<resolved name>]`` (``default`` -> ``fused``), later ones winning."""
    from driftrec.models.registry import resolve_name

    models = config.get("models", {})
    return dict(config.get("model", {}) | models.get(name, {}) | models.get(resolve_name(name), {}))


def checked_model_config(config: dict[str, Any], name: str, path: Path | None = None
                         ) -> dict[str, Any]:
    """:func:`model_config`, checked by the model's own options class (no torch, no data
    loaded): an unknown model, an unknown option or a bad value fails with a message naming
    the model and the key."""
    from driftrec.models.registry import validate_config

    options = model_config(config, name)
    try:
        validate_config(name, options)
    except ValueError as exc:
        where = f"{path}: " if path is not None else ""
        raise fail(f"{where}{exc}") from None
    return options


def parse_budget(text: str, option: str = "--budget") -> float:
    """A duration such as ``90s``, ``5m``, ``1.5h`` or a bare number of minutes, in minutes."""
    units = {"s": 1 / 60, "m": 1.0, "h": 60.0}
    raw = text.strip().lower()
    scale = units.get(raw[-1:])
    number = raw[:-1] if scale is not None else raw
    try:
        minutes = float(number) * (scale if scale is not None else 1.0)
    except ValueError:
        raise fail(f"{option} must be a duration such as 90s, 5m or 1h, got {text!r}") from None
    if minutes <= 0:
        raise fail(f"{option} must be positive, got {text!r}")
    return minutes


def budget_options(name: str, options: dict[str, Any], minutes: float) -> dict[str, Any]:
    """``options`` with the model's training time budget set to ``minutes``: the sequence
    model's ``time_budget_min`` (the fused model's ``sequence`` table); models that train
    in seconds have no budget and are returned unchanged."""
    from driftrec.models.registry import resolve_name

    key = resolve_name(name)
    if key == "fused":
        return {**options, "sequence": {**options.get("sequence", {}),
                                        "time_budget_min": minutes}}
    if key in ("sasrec", "sasrec-text"):
        return {**options, "time_budget_min": minutes}
    return options
