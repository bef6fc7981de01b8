"""Readers for other people's files: CSV, TSV, JSONL, Parquet and RecBole atomic files.

Every reader returns string columns renamed to the internal schema plus ``_line`` (the
1-based line in the source file), so that validation can point at the exact line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from driftrec.data.cleaning import LINE, CleaningReport, clean_events, validate_events
from driftrec.data.dataset import Dataset, UnknownItemPolicy
from driftrec.data.errors import DataError
from driftrec.data.schema import COLUMN_ALIASES, ITEM_ID, USER_ID

FORMATS = ("csv", "tsv", "jsonl", "parquet", "inter", "item", "user")


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("json", "ndjson"):
        return "jsonl"
    if suffix in ("txt", "tab"):
        return "tsv"
    if suffix in FORMATS:
        return suffix
    raise DataError(f"cannot tell the format from the extension; use one of {FORMATS}", path=path)


def read_table(path: str | Path, fmt: str | None = None) -> pd.DataFrame:
    """Read a file into string columns with ``_line``; structural errors name file and line."""
    path = Path(path)
    if not path.exists():
        raise DataError("file does not exist", path=path)
    fmt = fmt or detect_format(path)
    try:
        if fmt == "parquet":
            frame = pd.read_parquet(path)
            frame = frame.astype({c: "string" for c in frame.columns if frame[c].dtype == object})
            frame[LINE] = range(1, len(frame) + 1)  # row number: Parquet has no lines
            return frame
        if fmt == "jsonl":
            frame = pd.read_json(path, lines=True, dtype=False)
            frame[LINE] = range(1, len(frame) + 1)
            return frame
        sep = "," if fmt == "csv" else "\t"
        frame = pd.read_csv(
            path, sep=sep, dtype=str, keep_default_na=False, na_values=[], encoding_errors="replace"
        )
        if fmt in ("inter", "item", "user"):
            # RecBole atomic files: headers are ``name:type``.
            frame.columns = [c.split(":")[0] for c in frame.columns]
        frame[LINE] = range(2, len(frame) + 2)
        return frame
    except pd.errors.ParserError as exc:
        raise DataError(f"cannot parse {fmt}: {exc}", path=path) from None
    except ValueError as exc:
        raise DataError(f"cannot parse {fmt}: {exc}", path=path) from None


def map_columns(frame: pd.DataFrame, mapping: dict[str, str] | None = None) -> pd.DataFrame:
    """Rename columns to the schema: explicit ``mapping`` (schema -> file name) first, then
    the common spellings in :data:`COLUMN_ALIASES` (matched case-insensitively)."""
    mapping = dict(mapping or {})
    rename: dict[str, str] = {}
    lower = {c.lower(): c for c in frame.columns}
    for target, aliases in COLUMN_ALIASES.items():
        if target in mapping:
            source = mapping[target]
            if source not in frame.columns:
                raise DataError(f"mapped column {source!r} not in file columns {list(frame)}",
                                field=target)
            rename[source] = target
            continue
        for alias in aliases:
            if alias.lower() in lower and lower[alias.lower()] not in rename:
                rename[lower[alias.lower()]] = target
                break
    return frame.rename(columns=rename)


def read_events(
    path: str | Path,
    *,
    fmt: str | None = None,
    columns: dict[str, str] | None = None,
    strict: bool = False,
    keep: Sequence[str] = (),
    value_dtype: type = np.float32,
) -> tuple[pd.DataFrame, CleaningReport]:
    """Events from a file, validated; malformed rows dropped and reported (or raise).

    ``keep`` names extra columns to pass through as read (e.g. ``_line``, ``event_id``);
    ``value_dtype`` is the dtype of ``value`` (float32 unless told otherwise).
    """
    frame = map_columns(read_table(path, fmt), columns)
    for required in (USER_ID, ITEM_ID):
        if required not in frame.columns:
            raise DataError(
                f"no {required} column; found {[c for c in frame.columns if c != LINE]} "
                f"(accepted spellings: {COLUMN_ALIASES[required]})",
                path=path,
                field=required,
            )
    return validate_events(frame, source=str(path), strict=strict, keep=keep,
                           value_dtype=value_dtype)


def read_items(path: str | Path, *, fmt: str | None = None,
               columns: dict[str, str] | None = None) -> pd.DataFrame:
    """Items table: ``item_id`` plus every other column as text fields."""
    frame = map_columns(read_table(path, fmt), columns)
    if ITEM_ID not in frame.columns:
        raise DataError(f"no item_id column; found {list(frame.columns)}", path=path,
                        field=ITEM_ID)
    frame = frame.drop(columns=[c for c in (LINE, USER_ID) if c in frame.columns])
    frame[ITEM_ID] = frame[ITEM_ID].astype(str)
    return frame.reset_index(drop=True)


def read_users(path: str | Path, *, fmt: str | None = None) -> pd.DataFrame:
    frame = map_columns(read_table(path, fmt))
    if USER_ID not in frame.columns:
        raise DataError(f"no user_id column; found {list(frame.columns)}", path=path,
                        field=USER_ID)
    return frame.drop(columns=[c for c in (LINE, ITEM_ID) if c in frame.columns])


def load_dataset(
    events_path: str | Path,
    items_path: str | Path | None = None,
    users_path: str | Path | None = None,
    *,
    columns: dict[str, str] | None = None,
    unknown_items: UnknownItemPolicy = "error",
    strict: bool = False,
    min_value: float | None = None,
    core: int = 0,
) -> tuple[Dataset, CleaningReport]:
    """Read, clean and index an events file (plus optional items/users files).

    With an items file, events naming items not in it are an error (``unknown_items=
    "error"``) or dropped and counted (``"warn"``); every listed item is in the catalogue.
    """
    events, report = read_events(events_path, columns=columns, strict=strict)
    items = read_items(items_path) if items_path else None
    users = read_users(users_path) if users_path else None
    known = set(items[ITEM_ID]) if items is not None and unknown_items == "warn" else None
    events = clean_events(events, report, known_items=known, min_value=min_value, core=core)
    name = Path(events_path).stem
    dataset = Dataset.from_frames(
        events.drop(columns=[LINE], errors="ignore"), items, users, name=name,
        unknown_items=unknown_items,
    )
    return dataset, report
