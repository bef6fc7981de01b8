"""Fuzzing the file readers: malformed files fail with a DataError, never anything else.

Every generated file (random bytes; messy CSV, TSV and RecBole ``.inter`` text in several
encodings, cut short; JSONL with mixed types and non-object lines; Parquet with odd column
types, or damaged) is read as events (strict, and leniently into a dataset) and as items.
Each read either gives a valid result or raises :class:`DataError` naming the file, and the
line where it names one. A file with one bad cell in an otherwise good table is answered
with that cell's line and field: the error in strict mode, the report when lenient.

The seed differs per run, except under CI (``CI`` set), which runs hypothesis derandomised
so that a submission lands or not on its own merits; a failure prints hypothesis'
reproduction (``@reproduce_failure``).
About 25 s on two busy cores.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from driftrec.data.dataset import Dataset
from driftrec.data.errors import DataError
from driftrec.data.readers import load_dataset, read_events, read_items

FUZZ = settings(max_examples=150, deadline=None, print_blob=True,
                derandomize=bool(os.environ.get("CI")),
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])

#: Header names: accepted spellings (in several cases), RecBole ``name:type``, junk.
NAMES = ["user_id", "userID", "user", "uid", "USER_ID", "item_id", "itemID", "item",
         "movie_id", "ITEM_ID", "timestamp", "time", "ts", "date", "Timestamp", "rating",
         "value", "score", "Value", "event_type", "event", "text", "query", "title", "genre",
         "event_id", "_line", "", "user_id:token", "item_id:token", "timestamp:float",
         "rating:float", "a:b:c", "x y"]

#: Cells that have broken readers somewhere: blanks, huge and odd numbers, dates out of
#: range, quotes, separators and line breaks inside a cell, NUL, replacement characters.
ODD_CELLS = ["u1", "i1", "42", "", "  ", "0", "-1", "1.5", "3", "1e308", "1e400", "-1e400",
             "99999999999999999999999", "18446744073709551616", "-9223372036854775809",
             "nan", "NaN", "inf", "-inf", "2000-01-01", "2000-01-01T12:00:00+02:00",
             "9999-12-31", "0001-01-01", "2262-04-12", "1677-09-21", "2000-13-45",
             "yesterday", "1,2", '"q"', '"unterminated', 'a"b', "\\N", "NULL", "None", "true",
             "\x00", "a\x00b", "é", "\ufffd", "\U0001f4a5", "\t", "\r", "\n", "\ufeff", ":"]

cells = st.one_of(
    st.sampled_from(ODD_CELLS),
    st.text(max_size=10),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats().map(repr),
)
ENCODINGS = ["utf-8", "utf-8-sig", "latin-1", "cp1252", "utf-16", "utf-16-le", "utf-32"]

_counter = itertools.count()


def fresh(tmp_path: Path, suffix: str) -> Path:
    """A new file name per example (examples share the test's ``tmp_path``)."""
    folder = tmp_path / f"ex{next(_counter)}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    return folder / f"data.{suffix}"


# -- the property ----------------------------------------------------------------------

LINE_FIELD = re.compile(r"line (\d+), field '([^']+)'")


def check_error(exc: DataError, path: Path) -> None:
    """The error names the file, and the line when it has one."""
    assert type(exc) is DataError, f"{type(exc).__name__} leaked: {exc}"
    assert exc.path == str(path) and str(path) in str(exc), f"file not named: {exc}"
    if exc.line is not None:
        assert exc.line >= 1 and f"line {exc.line}" in str(exc), str(exc)
    if exc.field is not None:
        assert f"field '{exc.field}'" in str(exc), str(exc)


def valid_ids(ids: pd.Series) -> None:
    assert all(isinstance(x, str) for x in ids), ids.tolist()
    assert all(x.strip() and "\x00" not in x for x in ids), ids.tolist()
    assert not ids.str.contains("[\ud800-\udfff]", regex=True).any(), ids.tolist()


def check_events(events: pd.DataFrame, report) -> None:
    """A frame the rest of driftrec can use: string ids, int64 seconds, finite values."""
    assert {"user_id", "item_id"} <= set(events.columns)
    valid_ids(events["user_id"])
    valid_ids(events["item_id"])
    if "timestamp" in events.columns:
        assert events["timestamp"].dtype == np.int64
    if "value" in events.columns:
        values = events["value"].to_numpy()
        assert values.dtype == np.float32
        assert not np.isinf(values).any(), values
    assert report.rows_out == len(events) <= report.rows_in
    for examples in report.examples.values():
        for example in examples:
            assert LINE_FIELD.match(example), example


def read_everything(path: Path) -> None:
    """Events strictly, events leniently into a dataset, items: DataError or valid."""
    if path.suffix != ".parquet":
        note(f"{path.name}: {path.read_bytes()[:600]!r}")
    try:
        events, report = read_events(path, strict=True)
    except DataError as exc:
        check_error(exc, path)
    else:
        check_events(events, report)
        assert not report.dropped  # strict: nothing is dropped silently
    try:
        dataset, report = load_dataset(path)
    except DataError as exc:
        check_error(exc, path)
    else:
        assert isinstance(dataset, Dataset)
        check_events(dataset.events, report)
        assert len(dataset.events) == report.rows_out
        assert dataset.interactions().shape == (dataset.n_users, dataset.n_items)
    try:
        items = read_items(path)
    except DataError as exc:
        check_error(exc, path)
    else:
        valid_ids(items["item_id"])
        assert "_line" not in items.columns


# -- text files: CSV, TSV, RecBole ----------------------------------------------------

@st.composite
def text_files(draw) -> tuple[str, bytes]:
    suffix = draw(st.sampled_from(["csv", "tsv", "inter"]))
    sep = "," if suffix == "csv" else "\t"
    header = draw(st.lists(st.sampled_from(NAMES), min_size=0, max_size=6))
    width = max(1, len(header))
    rows = draw(st.lists(st.lists(cells, min_size=0, max_size=width + 2), max_size=6))
    end = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    if draw(st.booleans()):  # written by a CSV writer: quoted, so cells survive
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=sep, lineterminator=end)
        writer.writerows([header, *rows] if header else rows)
        text = buffer.getvalue()
    else:  # joined by hand: separators, quotes and line breaks in cells break the rows
        text = end.join(sep.join(r) for r in ([header, *rows] if header else rows))
        text += draw(st.sampled_from(["", end, end + end]))
    data = text.encode(draw(st.sampled_from(ENCODINGS)), errors="replace")
    if draw(st.booleans()):  # cut short, possibly inside a multi-byte character
        data = data[: draw(st.integers(0, len(data)))]
    return suffix, data


@FUZZ
@given(text_files())
def test_malformed_text_files_fail_only_with_data_error(tmp_path: Path, file) -> None:
    suffix, data = file
    path = fresh(tmp_path, suffix)
    path.write_bytes(data)
    read_everything(path)


@FUZZ
@given(suffix=st.sampled_from(["csv", "tsv", "inter", "jsonl", "parquet"]),
       head=st.sampled_from([b"", b"user_id,item_id\n", b"user_id\titem_id\ttimestamp\n",
                             b'{"user_id": "u", "item_id": ', b"PAR1"]),
       body=st.binary(max_size=200))
def test_random_bytes_fail_only_with_data_error(tmp_path: Path, suffix: str, head: bytes,
                                                 body: bytes) -> None:
    path = fresh(tmp_path, suffix)
    path.write_bytes(head + body)
    read_everything(path)


# -- JSONL -----------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(), st.text(max_size=8), st.sampled_from(ODD_CELLS))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                 max_size=3),
    max_leaves=6)
RAW_JSON_LINES = ['{"user_id": "\\ud800", "item_id": "i"}', '{"user_id": "u\\u0000", "item_id": 1}',
                  '{"user_id": "u", "item_id": "i", "timestamp": ' + "9" * 5000 + "}",
                  '{"user_id": "u", "item_id": "i", "value": 1e999}',
                  '{"user_id": "u", "item_id": "i", "timestamp": NaN}',
                  "[" * 100_000, '{"user_id": "u", "item_id": "i"', "{}", "[]", "null", "7",
                  '"text"', "   ", "", "not json", "\x00"]


@st.composite
def jsonl_files(draw) -> bytes:
    def line() -> str:
        kind = draw(st.sampled_from(["object", "object", "object", "value", "raw"]))
        if kind == "object":
            keys = draw(st.lists(st.sampled_from(NAMES), max_size=6))
            obj = {k: draw(json_values) for k in keys}
            return json.dumps(obj, ensure_ascii=draw(st.booleans()))
        if kind == "value":
            return json.dumps(draw(json_values))
        return draw(st.sampled_from(RAW_JSON_LINES))

    lines = [line() for _ in range(draw(st.integers(0, 6)))]
    text = draw(st.sampled_from(["\n", "\r\n"])).join(lines) + draw(st.sampled_from(["", "\n"]))
    data = text.encode(draw(st.sampled_from(ENCODINGS)), errors="replace")
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return data


@FUZZ
@given(jsonl_files())
def test_malformed_jsonl_fails_only_with_data_error(tmp_path: Path, data: bytes) -> None:
    path = fresh(tmp_path, "jsonl")
    path.write_bytes(data)
    read_everything(path)


# -- Parquet ---------------------------------------------------------------------------

def _ints(low: int, high: int):
    return st.integers(min_value=low, max_value=high) | st.none()


#: Arrow types with values for them: the plausible ones and the wrong ones for an id,
#: a time or a value (booleans, datetimes, durations, bytes, lists, structs, nulls).
ARROW = {
    "string": (pa.string(), st.text(max_size=6) | st.sampled_from(ODD_CELLS) | st.none()),
    "large_string": (pa.large_string(), st.text(max_size=6) | st.none()),
    "int64": (pa.int64(), _ints(-(2**63), 2**63 - 1)),
    "uint64": (pa.uint64(), _ints(0, 2**64 - 1)),
    "int8": (pa.int8(), _ints(-128, 127)),
    "float64": (pa.float64(), st.floats() | st.none()),
    "float32": (pa.float32(), st.floats(width=32) | st.none()),
    "bool": (pa.bool_(), st.booleans() | st.none()),
    "timestamp_s": (pa.timestamp("s"), _ints(-(2**40), 2**40)),
    "timestamp_ms_utc": (pa.timestamp("ms", tz="UTC"), _ints(-(2**50), 2**50)),
    "timestamp_ns_tz": (pa.timestamp("ns", tz="Europe/Berlin"), _ints(-(2**62), 2**62)),
    "date32": (pa.date32(), _ints(-(10**6), 10**6)),
    "duration": (pa.duration("s"), _ints(-(2**40), 2**40)),
    "decimal": (pa.decimal128(38, 0), _ints(-(10**30), 10**30)),
    "binary": (pa.binary(), st.binary(max_size=6) | st.none()),
    "list": (pa.list_(pa.int64()), st.lists(st.integers(-5, 5), max_size=3) | st.none()),
    "struct": (pa.struct([("a", pa.int64())]),
               st.fixed_dictionaries({"a": st.integers(-5, 5)}) | st.none()),
    "dictionary": (pa.dictionary(pa.int32(), pa.string()), st.sampled_from(ODD_CELLS)),
    "null": (pa.null(), st.none()),
}


def _array(kind: str, values: list) -> pa.Array:
    arrow_type, _ = ARROW[kind]
    if kind.startswith(("timestamp", "date", "duration")):
        storage = pa.int32() if kind == "date32" else pa.int64()
        return pa.array(values, type=storage).cast(arrow_type)
    if kind == "decimal":
        from decimal import Decimal

        return pa.array([None if v is None else Decimal(v) for v in values], type=arrow_type)
    if kind == "dictionary":
        return pa.array(values, type=pa.string()).dictionary_encode()
    return pa.array(values, type=arrow_type)


@st.composite
def parquet_files(draw) -> tuple[pa.Table, int | None, int, str]:
    n_rows = draw(st.integers(0, 5))
    names = draw(st.lists(st.sampled_from(NAMES), max_size=5))
    arrays, shown = [], []
    for name in names:
        kind = draw(st.sampled_from(sorted(ARROW)))
        values = draw(st.lists(ARROW[kind][1], min_size=n_rows, max_size=n_rows))
        arrays.append(_array(kind, values))
        shown.append(f"{name!r} {kind} {values!r}")
    table = pa.Table.from_arrays(arrays, names=names) if names else pa.table({})
    damage = draw(st.none() | st.integers(0, 10_000))  # cut the file short here, or flip
    flip = draw(st.integers(0, 255))
    return table, damage, flip, "; ".join(shown)


@FUZZ
@given(parquet_files())
def test_parquet_with_wrong_column_types_fails_only_with_data_error(tmp_path: Path,
                                                                     file) -> None:
    table, damage, flip, shown = file
    note(f"columns {shown}; damage at {damage}, flip {flip}")
    path = fresh(tmp_path, "parquet")
    pq.write_table(table, path)
    if damage is not None:
        data = bytearray(path.read_bytes())
        position = damage % len(data)
        if flip:
            data[position] ^= flip
        else:
            del data[position:]
        path.write_bytes(bytes(data))
    read_everything(path)


# -- one bad cell in a good table: its line and field ----------------------------------

#: (field, bad cell) pairs; NUL and lone surrogates are only possible in some formats.
BAD_CELLS = [("user_id", ""), ("user_id", "   "), ("item_id", ""), ("timestamp", "soon"),
             ("timestamp", "2000-13-45"), ("timestamp", "1e400"), ("timestamp", "nan"),
             ("timestamp", "99999999999999999999999"), ("value", "lots"), ("value", "1e400"),
             ("value", "1e300"), ("value", "inf"), ("user_id", "a\x00b"),
             ("item_id", "\ud800"), ("timestamp", True), ("value", [1, 2]),
             ("user_id", {"a": 1})]
WRITABLE = {
    # NUL in a CSV cell is refused for the whole file (the C parser would cut the cell),
    # naming the line; the other formats carry it to the row check.
    "csv": lambda cell: isinstance(cell, str) and not re.search("[\ud800-\udfff]", cell),
    "tsv": lambda cell: isinstance(cell, str) and not re.search("[\ud800-\udfff]", cell),
    "jsonl": lambda cell: True,
    "parquet": lambda cell: isinstance(cell, str) and not re.search("[\ud800-\udfff]", cell),
}


@st.composite
def one_bad_cell(draw):
    fmt = draw(st.sampled_from(sorted(WRITABLE)))
    field, bad = draw(st.sampled_from([b for b in BAD_CELLS if WRITABLE[fmt](b[1])]))
    n = draw(st.integers(1, 6))
    ids = st.text(st.characters(codec="utf-8", exclude_characters=",\t\"\r\n\x00"),
                  min_size=1, max_size=5).filter(lambda s: s.strip() == s and s != "")
    rows = [{"user_id": draw(ids), "item_id": draw(ids),
             "timestamp": str(draw(st.integers(0, 2**40))),
             "value": str(draw(st.floats(-1e6, 1e6, allow_nan=False)))} for _ in range(n)]
    where = draw(st.integers(0, n - 1))
    rows[where][field] = bad
    blank_lines = draw(st.lists(st.integers(0, n), max_size=2)) if fmt == "jsonl" else []
    return fmt, rows, where, field, sorted(blank_lines)


def write_rows(path: Path, fmt: str, rows: list[dict], blank_lines: list[int]) -> list[int]:
    """Write ``rows``; return each row's line (Parquet: row number) as readers count."""
    if fmt == "parquet":
        pd.DataFrame(rows).to_parquet(path)
        return list(range(1, len(rows) + 1))
    if fmt == "jsonl":
        out, lines = [], []
        for i, row in enumerate(rows):
            out.extend("" for b in blank_lines if b == i)
            out.append(json.dumps(row))
            lines.append(len(out))
        path.write_text("\n".join(out) + "\n", encoding="utf-8", errors="surrogatepass")
        return lines
    sep = "," if fmt == "csv" else "\t"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter=sep)
        writer.writeheader()
        writer.writerows(rows)
    return list(range(2, len(rows) + 2))


@settings(FUZZ, max_examples=200)
@given(one_bad_cell())
def test_one_bad_cell_is_named_by_line_and_field(tmp_path: Path, case) -> None:
    fmt, rows, where, field, blank_lines = case
    path = fresh(tmp_path, fmt)
    lines = write_rows(path, fmt, rows, blank_lines)
    note(f"{path.name}: {path.read_bytes()[:600]!r}")
    with pytest.raises(DataError) as caught:
        read_events(path, strict=True)
    check_error(caught.value, path)
    assert (caught.value.line, caught.value.field) == (lines[where], field), str(caught.value)
    if fmt in ("csv", "tsv") and "\x00" in str(rows[where][field]):
        return  # refused as a whole file, with the line (and field) of the NUL
    events, report = read_events(path)
    check_events(events, report)
    assert report.rows_in == len(rows) and report.rows_out == len(rows) - 1
    named = [LINE_FIELD.match(e).groups() for ex in report.examples.values() for e in ex]
    assert named == [(str(lines[where]), field)]
    kept_lines = [line for i, line in enumerate(lines) if i != where]
    assert events["user_id"].tolist() == [r["user_id"] for i, r in enumerate(rows)
                                          if i != where], kept_lines


def test_good_files_still_read_the_same(tmp_path: Path) -> None:
    """The fixes keep valid files as they were: numbers, ISO dates, typed Parquet."""
    frame = pd.DataFrame({"user": ["u1", "u2", "u3"], "item": [1, 2, 3],
                          "ts": pd.to_datetime(["2000-01-01", "2000-01-02", None], utc=True),
                          "rating": [1.0, None, 3.5]})
    frame.to_parquet(tmp_path / "e.parquet")
    events, report = read_events(tmp_path / "e.parquet")
    assert events["user_id"].tolist() == ["u1", "u2"]  # the row without a time is dropped
    assert events["item_id"].tolist() == ["1", "2"]
    assert events["timestamp"].tolist() == [946684800, 946771200]  # seconds, not ns
    assert events["value"].iloc[0] == 1.0 and math.isnan(events["value"].iloc[1])
    assert report.dropped == {"malformed timestamp: not unix seconds or ISO-8601": 1}
    (tmp_path / "e.jsonl").write_text(
        '{"user_id": 1, "item_id": "a", "timestamp": 5}\n\n'
        '{"item_id": "b", "user_id": 2, "timestamp": "1970-01-01T00:00:07Z", "value": 4}\n')
    events, _ = read_events(tmp_path / "e.jsonl", keep=("_line",))
    assert events["user_id"].tolist() == ["1", "2"]  # not "1.0" when a key is missing
    assert events["timestamp"].tolist() == [5, 7]
    assert events["_line"].tolist() == [1, 3]  # blank lines count


@pytest.mark.parametrize(("name", "data", "line", "field", "says"), [
    ("quote.csv", b'user_id,item_id\n1,2\n3,"unterminated\n4,5\n', 3, None, "EOF inside"),
    ("wide.csv", b"user_id,item_id\n1,2\n3,4,5\n", 3, None, "Expected 2 fields"),
    ("nul.tsv", b"user_id\titem_id\n1\t2\n3\tx\x00y\n", 3, "item_id", "NUL"),
    ("utf16.csv", "user_id,item_id\n1,2\n".encode("utf-16"), 1, None, "UTF-16"),
    ("utf16.jsonl", '{"user_id": 1}\n'.encode("utf-16"), 1, None, "UTF-16"),
    ("list.jsonl", b'{"user_id": 1, "item_id": 2}\n\n[1, 2]\n', 3, None, "not a JSON object"),
    ("twice.inter", b"user_id:token\tuser_id:float\titem_id:token\n1\t2\t3\n", None,
     "user_id", "more than one column"),
    ("case.csv", b"user_id,item_id,Item_ID\n1,2,3\n", None, None, None),
])
def test_structural_errors_name_the_line(tmp_path: Path, name: str, data: bytes,
                                         line: int | None, field: str | None,
                                         says: str | None) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    if says is None:  # the schema's own spelling wins over another one
        events, _ = read_events(path)
        assert events["item_id"].tolist() == ["2"]
        return
    with pytest.raises(DataError, match=says) as caught:
        read_events(path)
    check_error(caught.value, path)
    assert (caught.value.line, caught.value.field) == (line, field)
