"""Readers for other people's files: CSV, TSV, JSONL, Parquet and RecBole atomic files.

Every reader returns string columns renamed to the internal schema plus ``_line`` (the
1-based line in the source file), so that validation can point at the exact line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from driftrec.data.cleaning import (
    LINE,
    CleaningReport,
    clean_events,
    id_problems,
    validate_events,
)
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
    if path.is_dir():
        raise DataError("is a directory, not a file", path=path)
    fmt = fmt or detect_format(path)
    try:
        if fmt == "parquet":
            return _read_parquet(path)
        if fmt == "jsonl":
            return _read_jsonl(path)
        return _read_delimited(path, fmt)
    except DataError:
        raise
    except pd.errors.ParserError as exc:
        # the C parser says "line N" (1-based) or "row N" (0-based, the header is row 0)
        found = re.search(r"\b(line|row) (\d+)", str(exc))
        line = int(found.group(2)) + (found.group(1) == "row") if found else None
        raise DataError(f"cannot parse {fmt}: {exc}".strip(), path=path, line=line) from None
    except (ValueError, pa.ArrowException) as exc:  # Arrow's errors for a damaged Parquet file
        raise DataError(f"cannot parse {fmt}: {exc}", path=path) from None
    except OSError as exc:
        raise DataError(f"cannot read {fmt}: {exc.strerror or exc}", path=path) from None


_BOMS = {b"\xff\xfe\x00\x00": "UTF-32", b"\x00\x00\xfe\xff": "UTF-32",
         b"\xff\xfe": "UTF-16", b"\xfe\xff": "UTF-16"}


def _encoding_hint(path: Path) -> str:
    """`` (it looks like UTF-16 text ...)`` when the file starts with a UTF-16/32 mark."""
    with path.open("rb") as fh:
        start = fh.read(4)
    for bom, name in _BOMS.items():
        if start.startswith(bom):
            return f" (the file looks like {name} text; save it as UTF-8)"
    return ""


def _find_nul(path: Path) -> tuple[int, bytes] | None:
    """The line of the first NUL byte in a file and that line's bytes before it."""
    line, current = 1, b""
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            at = chunk.find(b"\x00")
            before = chunk if at < 0 else chunk[:at]
            line += before.count(b"\n")
            cut = before.rfind(b"\n")
            current = before[cut + 1:] if cut >= 0 else (current + before)[-65536:]
            if at >= 0:
                return line, current
    return None


def _read_delimited(path: Path, fmt: str) -> pd.DataFrame:
    sep = "," if fmt == "csv" else "\t"
    # The C parser ends a cell at a NUL byte without a word: refuse such files instead
    # (a NUL is UTF-16 text or binary data, never a CSV cell).
    nul = _find_nul(path)
    if nul is not None:
        line, before = nul
        field = None
        if line > 1:
            with path.open("rb") as fh:
                header = fh.readline().decode("utf-8", errors="replace").rstrip("\r\n")
            names = [c.split(":")[0] if fmt in ("inter", "item", "user") else c
                     for c in header.split(sep)]
            column = before.decode("utf-8", errors="replace").count(sep)
            field = (names[column] or None) if column < len(names) else None
        hint = _encoding_hint(path) or " (UTF-16 text or binary data?)"
        raise DataError(f"a NUL character (\\x00){hint}; driftrec reads UTF-8 text",
                        path=path, line=line, field=field)
    frame = pd.read_csv(
        path, sep=sep, dtype=str, keep_default_na=False, na_values=[], encoding_errors="replace"
    )
    if fmt in ("inter", "item", "user"):
        # RecBole atomic files: headers are ``name:type``.
        frame.columns = [c.split(":")[0] for c in frame.columns]
    frame[LINE] = range(2, len(frame) + 2)
    return frame


def _read_jsonl(path: Path) -> pd.DataFrame:
    """One JSON object per line; cells keep their JSON type (an id ``7`` stays ``7``, not
    ``7.0`` when another line lacks it), blank lines are skipped but counted."""
    records: list[dict] = []
    lines: list[int] = []
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            text = raw.decode("utf-8", errors="replace")
            if number == 1:
                text = text.removeprefix("\ufeff")
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except (ValueError, RecursionError) as exc:
                raise DataError(f"not valid JSON: {exc}{_encoding_hint(path)}", path=path,
                                line=number) from None
            if not isinstance(record, dict):
                raise DataError(f"not a JSON object but {type(record).__name__} "
                                f"{text.strip()[:40]!r}", path=path, line=number)
            records.append(record)
            lines.append(number)
    frame = pd.DataFrame(records, dtype=object) if records else pd.DataFrame()
    frame[LINE] = lines
    return frame


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError, pa.ArrowException):
        raise
    except Exception as exc:  # damaged metadata reaches pandas and pytz: anything goes
        raise DataError(f"cannot read parquet: {type(exc).__name__}: {exc}",
                        path=path) from None
    frame = frame.astype({c: "string" for c in frame.columns if frame[c].dtype == object})
    frame[LINE] = range(1, len(frame) + 1)  # row number: Parquet has no lines
    return frame


def map_columns(frame: pd.DataFrame, mapping: dict[str, str] | None = None, *,
                path: str | Path | None = None) -> pd.DataFrame:
    """Rename columns to the schema: explicit ``mapping`` (schema -> file name) first, then
    the schema's own name, then the common spellings in :data:`COLUMN_ALIASES` (matched
    case-insensitively). A name the renamed frame has twice is an error."""
    mapping = dict(mapping or {})
    rename: dict[str, str] = {}
    lower = {c.lower(): c for c in frame.columns}
    for target, aliases in COLUMN_ALIASES.items():
        if target in mapping:
            source = mapping[target]
            if source not in frame.columns:
                raise DataError(f"mapped column {source!r} not in file columns {list(frame)}",
                                path=path, field=target)
            rename[source] = target
            continue
        if target in frame.columns:
            continue
        for alias in aliases:
            if alias.lower() in lower and lower[alias.lower()] not in rename:
                rename[lower[alias.lower()]] = target
                break
    frame = frame.rename(columns=rename)
    twice = frame.columns[frame.columns.duplicated()]
    if len(twice):
        name = twice[0]
        sources = [c for c, t in rename.items() if t == name]
        raise DataError(f"more than one column is {name!r}"
                        + (f" (renamed from {sources[0]!r})" if sources else "")
                        + "; keep one, or name the one to use", path=path, field=str(name))
    return frame


def _check_ids(frame: pd.DataFrame, column: str, path: str | Path) -> None:
    """Raise for the first unusable id (empty, a list, NUL, ...) with its line."""
    for mask, problem in id_problems(frame[column]):
        if mask.any():
            i = int(np.flatnonzero(mask)[0])
            line = int(frame[LINE].iloc[i]) if LINE in frame.columns else None
            raise DataError(f"{problem} (got {frame[column].iloc[i]!r})", path=path,
                            line=line, field=column)


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
    frame = map_columns(read_table(path, fmt), columns, path=path)
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
    frame = map_columns(read_table(path, fmt), columns, path=path)
    if ITEM_ID not in frame.columns:
        raise DataError(f"no item_id column; found {list(frame.columns)}", path=path,
                        field=ITEM_ID)
    _check_ids(frame, ITEM_ID, path)
    frame = frame.drop(columns=[c for c in (LINE, USER_ID) if c in frame.columns])
    frame[ITEM_ID] = frame[ITEM_ID].astype(str)
    return frame.reset_index(drop=True)


def read_users(path: str | Path, *, fmt: str | None = None) -> pd.DataFrame:
    frame = map_columns(read_table(path, fmt), path=path)
    if USER_ID not in frame.columns:
        raise DataError(f"no user_id column; found {list(frame.columns)}", path=path,
                        field=USER_ID)
    _check_ids(frame, USER_ID, path)
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
