"""Readers: every supported format, column spellings, and malformed input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from driftrec.data.errors import DataError
from driftrec.data.readers import load_dataset, read_events


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_csv_with_common_column_spellings(tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", "userID,movie_id,ts,rating\n1,10,100,5\n2,11,2000-01-01,3\n")
    events, report = read_events(path)
    assert events["user_id"].tolist() == ["1", "2"]
    assert events["item_id"].tolist() == ["10", "11"]
    assert events["timestamp"].tolist() == [100, 946684800]  # ISO-8601 -> unix seconds
    assert events["value"].tolist() == [5.0, 3.0]
    assert report.rows_out == 2 and not report.dropped


@pytest.mark.parametrize("suffix", ["tsv", "jsonl", "parquet"])
def test_same_events_from_every_format(tmp_path: Path, suffix: str) -> None:
    frame = pd.DataFrame({"user": ["u1", "u2"], "item": ["i1", "i2"], "time": [1, 2]})
    path = tmp_path / f"e.{suffix}"
    if suffix == "tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif suffix == "jsonl":
        path.write_text("\n".join(json.dumps(r) for r in frame.to_dict("records")))
    else:
        frame.to_parquet(path)
    events, _ = read_events(path)
    assert events[["user_id", "item_id", "timestamp"]].values.tolist() == [
        ["u1", "i1", 1], ["u2", "i2", 2]]


def test_recbole_atomic_files(tmp_path: Path) -> None:
    inter = write(tmp_path / "x.inter",
                  "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
                  "1\t7\t4\t881250949\n2\t8\t3\t891717742\n")
    item = write(tmp_path / "x.item", "item_id:token\tmovie_title:token_seq\n7\tAlien\n8\tHeat\n")
    dataset, _ = load_dataset(inter, item)
    assert dataset.n_items == 2 and dataset.n_users == 2
    assert dataset.items.set_index("item_id").loc["7", "movie_title"] == "Alien"


def test_malformed_rows_are_dropped_and_reported_with_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv",
                 "user_id,item_id,timestamp,value\n1,10,100,5\n,11,101,4\n2,12,yesterday,3\n"
                 "3,13,102,lots\n4,14,103,2\n")
    events, report = read_events(path)
    assert events["user_id"].tolist() == ["1", "4"]
    assert report.rows_in == 5 and report.rows_out == 2
    text = str(report)
    assert "line 3, field 'user_id'" in text
    assert "line 4, field 'timestamp'" in text
    assert "line 5, field 'value'" in text


def test_strict_mode_names_file_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", "user_id,item_id,timestamp\n1,10,100\n2,11,soon\n")
    with pytest.raises(DataError, match=r"e\.csv, line 3, field 'timestamp'"):
        read_events(path, strict=True)


def test_missing_required_column_is_a_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", "customer,item_id\n1,10\n")
    with pytest.raises(DataError, match="no user_id column"):
        read_events(path)


def test_explicit_column_mapping(tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", "customer,sku,when\nc1,s1,5\n")
    events, _ = read_events(path, columns={"user_id": "customer", "item_id": "sku",
                                           "timestamp": "when"})
    assert events.iloc[0][["user_id", "item_id", "timestamp"]].tolist() == ["c1", "s1", 5]


def test_unparseable_file_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", 'user_id,item_id\n1,"unterminated\n')
    with pytest.raises(DataError, match=r"e\.csv"):
        read_events(path)


def test_unknown_items_error_or_warn(tmp_path: Path) -> None:
    events = write(tmp_path / "e.csv", "user_id,item_id\n1,a\n1,zzz\n2,b\n")
    items = write(tmp_path / "i.csv", "item_id,title\na,Alpha\nb,Beta\nc,Gamma\n")
    with pytest.raises(DataError, match="zzz"):
        load_dataset(events, items, unknown_items="error")
    dataset, report = load_dataset(events, items, unknown_items="warn")
    assert len(dataset.events) == 2
    assert report.dropped == {"item id not in the items table": 1}
    # Item c has no events but is part of the catalogue.
    assert dataset.n_items == 3 and "c" in set(dataset.item_ids)


def test_duplicates_threshold_and_kcore(tmp_path: Path) -> None:
    rows = ["user_id,item_id,timestamp,value", "1,a,1,5", "1,a,1,5", "1,b,2,4", "1,c,3,1",
            "2,a,3,4", "2,b,4,5", "3,a,5,5"]
    path = write(tmp_path / "e.csv", "\n".join(rows) + "\n")
    dataset, report = load_dataset(path, min_value=3, core=2)
    assert report.dropped["exact duplicate events"] == 1
    assert report.dropped["value below threshold 3"] == 1
    assert report.dropped["2-core filter (users/items with fewer than 2 events)"] == 1
    kept = sorted(zip(dataset.events["user_id"], dataset.events["item_id"], strict=True))
    assert kept == [("1", "a"), ("1", "b"), ("2", "a"), ("2", "b")]


def test_a_blank_value_stays_missing(tmp_path: Path) -> None:
    """A blank cell is no value (NaN), as an API event without "value": not 1, not 0."""
    path = write(tmp_path / "e.csv", "user,item,time,event_type,value\n"
                                     "u1,i1,1,rating,4\nu1,i2,2,rating,\nu1,i3,3,click,  \n")
    events, report = read_events(path)
    assert events["value"].iloc[0] == 4.0
    assert events["value"].iloc[1:].isna().all()
    assert report.rows_out == 3 and not report.dropped
    with pytest.raises(DataError, match="not a number"):
        read_events(write(tmp_path / "bad.csv", "user,item,value\nu1,i1,lots\n"), strict=True)
    # the dataset keeps it missing; without a value column every value is missing
    ds, _ = load_dataset(path)
    assert ds.events["value"].isna().tolist() == [False, True, True]
    no_value, _ = load_dataset(write(tmp_path / "no_value.csv", "user,item\nu1,i1\n"))
    assert no_value.events["value"].isna().all()
