"""Cleaning raw event tables, with a report of everything dropped and why.

Readers hand over string columns plus the source line of every row; cleaning parses and
validates them, so a malformed value is reported with its file, line and field instead of
silently turning into NaN.
"""

from __future__ import annotations

import logging
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


def parse_timestamps(values: pd.Series) -> pd.Series:
    """Unix seconds from numbers or ISO-8601 strings; unparseable values become NaN."""
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all():
        return numeric
    needs_text = numeric.isna() & values.notna() & (values.astype(str).str.strip() != "")
    parsed = pd.to_datetime(values[needs_text], errors="coerce", utc=True, format="ISO8601")
    seconds = (parsed - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    numeric = numeric.astype("float64")
    numeric.loc[needs_text] = seconds.astype("float64")
    return numeric


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
        flag(text.isna().to_numpy() | (text == "").fillna(True).to_numpy(), col, "empty id")
        out[col] = text.fillna("")
    if TIMESTAMP in raw.columns:
        ts = parse_timestamps(raw[TIMESTAMP])
        flag(ts.isna().to_numpy(), TIMESTAMP, "not unix seconds or ISO-8601")
        out[TIMESTAMP] = ts.fillna(0).astype(np.int64)
    if VALUE in raw.columns:
        # A blank value is missing (NaN), as an API event without "value": a rating without
        # a value then counts with its type's weight, not as a rating of 1 or 0.
        val = pd.to_numeric(raw[VALUE], errors="coerce")
        blank = (raw[VALUE].isna() | (raw[VALUE].astype(str).str.strip() == "")).to_numpy()
        flag((~blank & ~np.isfinite(val.to_numpy(dtype=np.float64))), VALUE, "not a number")
        out[VALUE] = val.where(~blank, np.nan).astype(value_dtype)
    if EVENT_TYPE in raw.columns:
        out[EVENT_TYPE] = raw[EVENT_TYPE].astype("string").str.strip().str.lower().fillna("")
    if TEXT in raw.columns:
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
