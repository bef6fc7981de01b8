"""Cleaning raw event tables, with a report of everything dropped and why.

Readers hand over string columns plus the source line of every row; cleaning parses and
validates them, so a malformed value is reported with its file, line and field instead of
silently turning into NaN.
"""

from __future__ import annotations

import logging
import numbers
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from driftrec.data.errors import DataError
from driftrec.data.schema import EVENT_TYPE, ITEM_ID, TEXT, TIMESTAMP, USER_ID, VALUE

log = logging.getLogger(__name__)

LINE = "_line"
MAX_EXAMPLES = 5


@dataclass
class CleaningReport:
    """What cleaning kept and dropped; ``str()`` is the readable summary."""

    source: str = ""
    rows_in: int = 0
    rows_out: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def drop(self, reason: str, count: int, examples: list[str] | None = None) -> None:
        if count <= 0:
            return
        self.dropped[reason] = self.dropped.get(reason, 0) + int(count)
        if examples:
            have = self.examples.setdefault(reason, [])
            have.extend(examples[: MAX_EXAMPLES - len(have)])

    def to_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "dropped": dict(self.dropped),
            "examples": {k: list(v) for k, v in self.examples.items()},
        }

    def __str__(self) -> str:
        lines = [f"{self.source or 'events'}: kept {self.rows_out:,} of {self.rows_in:,} rows"]
        for reason, count in self.dropped.items():
            lines.append(f"  dropped {count:,}: {reason}")
            for ex in self.examples.get(reason, []):
                lines.append(f"    e.g. {ex}")
        return "\n".join(lines)


#: Cell kinds a string or number column may hold (``pd.api.types.infer_dtype``).
_SCALAR_KINDS = frozenset({"string", "integer", "floating", "mixed-integer-float", "decimal",
                           "empty"})
#: NUL characters and lone surrogates: the API refuses them in every string, and neither
#: PostgreSQL nor UTF-8 can store them.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def non_scalar(values: pd.Series, *, booleans: bool = False) -> np.ndarray:
    """Cells that are neither a string nor a number (lists, objects, bytes from JSONL or
    Parquet); with ``booleans``, ``true``/``false`` too."""
    if values.dtype != object:
        return np.full(len(values), booleans and pd.api.types.is_bool_dtype(values))
    if pd.api.types.infer_dtype(values, skipna=True) in _SCALAR_KINDS:
        return np.zeros(len(values), dtype=bool)

    def odd(v: object) -> bool:
        if v is None or v is pd.NA or isinstance(v, str):
            return False
        if isinstance(v, (bool, np.bool_)):
            return booleans
        return not isinstance(v, numbers.Number)

    return values.map(odd).to_numpy(dtype=bool)


def id_problems(values: pd.Series, text: pd.Series | None = None
                ) -> list[tuple[np.ndarray, str]]:
    """What makes id cells unusable, as (mask, problem) pairs in the order to report;
    ``text`` is ``values`` as stripped strings when the caller has it already."""
    if text is None:
        text = values.astype("string").str.strip()
    problems = [(non_scalar(values), "not a string or a number"),
                (text.isna().to_numpy() | (text == "").fillna(True).to_numpy(), "empty id")]
    return problems + unstorable(text)


def unstorable(text: pd.Series) -> list[tuple[np.ndarray, str]]:
    """NUL characters and lone surrogates in string cells, as (mask, problem) pairs."""
    text = text.astype("string")
    if not _UNSTORABLE.search("".join(text.dropna().tolist())):  # the common case, fast
        return []
    found = text.str.contains(_UNSTORABLE, regex=True).fillna(False).to_numpy(dtype=bool)
    nul = text.str.contains("\x00", regex=False).fillna(False).to_numpy(dtype=bool)
    return [(nul, "contains a NUL character"),
            (found & ~nul, "not valid Unicode (a lone surrogate)")]


def parse_timestamps(values: pd.Series) -> pd.Series:
    """Unix seconds from numbers, ISO-8601 strings or datetimes; unparseable values
    (booleans, lists, ...) become NaN."""
    if pd.api.types.is_datetime64_any_dtype(values):  # Parquet timestamps: not nanoseconds
        utc = values.dt.tz_convert("UTC") if values.dt.tz else values.dt.tz_localize("UTC")
        return ((utc - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).astype("float64")
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_timedelta64_dtype(values):
        return pd.Series(np.nan, index=values.index)
    odd = non_scalar(values, booleans=True)
    if odd.any():
        values = values.where(~odd, None)
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all():
        return numeric
    needs_text = numeric.isna() & values.notna() & (values.astype(str).str.strip() != "")
    parsed = pd.to_datetime(values[needs_text], errors="coerce", utc=True, format="ISO8601")
    seconds = (parsed - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    numeric = numeric.astype("float64")
    numeric.loc[needs_text] = seconds.astype("float64")
    return numeric


def timestamp_seconds(values: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(seconds as int64, unparseable, out of int64 range)``; bad rows hold 0."""
    ts = parse_timestamps(values)
    as_float = ts.to_numpy(dtype=np.float64, na_value=np.nan)
    unparsed = ~np.isfinite(as_float)
    huge = ~unparsed & ~((as_float >= -(2.0**63)) & (as_float < 2.0**63))
    bad = unparsed | huge
    if pd.api.types.is_signed_integer_dtype(ts.dtype):  # exact, also beyond 2**53
        seconds = ts.to_numpy(dtype=np.int64, na_value=0)
    else:
        seconds = np.where(bad, 0.0, as_float).astype(np.int64)
    return np.where(bad, 0, seconds), unparsed, huge


def validate_events(
    raw: pd.DataFrame, *, source: str = "", strict: bool = False, keep: Sequence[str] = (),
    value_dtype: type = np.float32,
) -> tuple[pd.DataFrame, CleaningReport]:
    """Parse and check raw event rows; malformed rows are dropped (or raise if ``strict``).

    ``raw`` holds the schema columns as strings and ``_line``, the 1-based source line.
    Columns named in ``keep`` that ``raw`` has (e.g. ``_line``, ``event_id``) are passed
    through unchanged. Values are ``float32`` unless ``value_dtype`` says otherwise; a blank
    value stays missing (NaN).
    """
    report = CleaningReport(source=source, rows_in=len(raw))
    lines = raw[LINE].to_numpy() if LINE in raw.columns else np.arange(2, len(raw) + 2)
    bad = np.zeros(len(raw), dtype=bool)
    out = pd.DataFrame(index=raw.index)

    def flag(mask: np.ndarray, fld: str, problem: str) -> None:
        new = mask & ~bad
        if not new.any():
            return
        first = int(np.flatnonzero(new)[0])
        if strict:
            value = raw[fld].iloc[first] if fld in raw.columns else None
            raise DataError(f"{problem} (got {value!r})", path=source, line=int(lines[first]),
                            field=fld)
        examples = [
            f"line {int(lines[i])}, field '{fld}': {problem} (got {raw[fld].iloc[i]!r})"
            for i in np.flatnonzero(new)[:MAX_EXAMPLES]
        ]
        report.drop(f"malformed {fld}: {problem}", int(new.sum()), examples)
        bad[new] = True

    for col in (USER_ID, ITEM_ID):
        text = raw[col].astype("string").str.strip()
        for mask, problem in id_problems(raw[col], text):
            flag(mask, col, problem)
        out[col] = text.fillna("")
    if TIMESTAMP in raw.columns:
        seconds, unparsed, huge = timestamp_seconds(raw[TIMESTAMP])
        flag(unparsed, TIMESTAMP, "not unix seconds or ISO-8601")
        flag(huge, TIMESTAMP, "out of range (beyond 64-bit unix seconds)")
        out[TIMESTAMP] = seconds
    if VALUE in raw.columns:
        # A blank value is missing (NaN), as an API event without "value": a rating without
        # a value then counts with its type's weight, not as a rating of 1 or 0.
        odd = non_scalar(raw[VALUE])
        val = pd.to_numeric(raw[VALUE].where(~odd, None), errors="coerce")
        val = val.to_numpy(dtype=np.float64, na_value=np.nan)
        blank = ~odd & (raw[VALUE].isna() | (raw[VALUE].astype(str).str.strip() == "")).to_numpy()
        flag(~blank & ~np.isfinite(val), VALUE, "not a number")
        with np.errstate(over="ignore"):
            cast = val.astype(value_dtype)
        flag(~blank & np.isfinite(val) & ~np.isfinite(cast), VALUE,
             f"out of range for {np.dtype(value_dtype).name}")
        out[VALUE] = np.where(np.isfinite(cast), cast, np.nan).astype(value_dtype)
    if EVENT_TYPE in raw.columns:
        for mask, problem in unstorable(raw[EVENT_TYPE]):
            flag(mask, EVENT_TYPE, problem)
        out[EVENT_TYPE] = raw[EVENT_TYPE].astype("string").str.strip().str.lower().fillna("")
    if TEXT in raw.columns:
        for mask, problem in unstorable(raw[TEXT]):
            flag(mask, TEXT, problem)
        out[TEXT] = raw[TEXT].where(raw[TEXT].notna(), None)
    for col in keep:
        if col in raw.columns and col not in out.columns:
            out[col] = raw[col]

    kept = out.loc[~bad].reset_index(drop=True)
    report.rows_out = len(kept)
    return kept, report


def drop_duplicates(events: pd.DataFrame, report: CleaningReport) -> pd.DataFrame:
    """Drop exact duplicate events (every column equal), keeping the first."""
    cols = [c for c in events.columns if c != LINE]
    dup = events.duplicated(subset=cols, keep="first")
    report.drop("exact duplicate events", int(dup.sum()))
    return events.loc[~dup].reset_index(drop=True)


def drop_unknown_items(
    events: pd.DataFrame, known_items: set[str], report: CleaningReport
) -> pd.DataFrame:
    """Drop events whose item is not in the items table."""
    unknown = ~events[ITEM_ID].isin(known_items)
    report.drop(
        "item id not in the items table",
        int(unknown.sum()),
        [repr(x) for x in events.loc[unknown, ITEM_ID].unique()[:MAX_EXAMPLES]],
    )
    return events.loc[~unknown].reset_index(drop=True)


def apply_rating_threshold(
    events: pd.DataFrame, threshold: float, report: CleaningReport
) -> pd.DataFrame:
    """Keep only events with ``value >= threshold`` (explicit ratings to implicit feedback);
    events without a value are kept (they are not low ratings)."""
    low = events[VALUE] < threshold
    report.drop(f"value below threshold {threshold:g}", int(low.sum()))
    return events.loc[~low].reset_index(drop=True)


def k_core(events: pd.DataFrame, k: int, report: CleaningReport) -> pd.DataFrame:
    """Repeatedly drop users and items with fewer than ``k`` events until none remain."""
    if k <= 1:
        return events
    before = len(events)
    while True:
        user_counts = events[USER_ID].map(events[USER_ID].value_counts())
        item_counts = events[ITEM_ID].map(events[ITEM_ID].value_counts())
        keep = (user_counts >= k) & (item_counts >= k)
        if keep.all():
            break
        events = events.loc[keep]
    report.drop(f"{k}-core filter (users/items with fewer than {k} events)", before - len(events))
    return events.reset_index(drop=True)


def clean_events(
    events: pd.DataFrame,
    report: CleaningReport,
    *,
    known_items: set[str] | None = None,
    dedupe: bool = True,
    min_value: float | None = None,
    core: int = 0,
) -> pd.DataFrame:
    """The standard cleaning pipeline after validation; every step adds to ``report``."""
    if dedupe:
        events = drop_duplicates(events, report)
    if known_items is not None:
        events = drop_unknown_items(events, known_items, report)
    if min_value is not None and VALUE in events.columns:
        events = apply_rating_threshold(events, min_value, report)
    if core:
        events = k_core(events, core, report)
    report.rows_out = len(events)
    for reason, count in report.dropped.items():
        log.info("%s: dropped %d rows (%s)", report.source, count, reason)
    return events
