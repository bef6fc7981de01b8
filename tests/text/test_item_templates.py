"""Item text templates render MovieLens rows, survive missing fields, and read the same
for a row alone as for the row inside any table."""

from __future__ import annotations

import pandas as pd
import pytest

from driftrec.data.errors import DataError
from driftrec.text.templates import (
    DEFAULT_TEMPLATE,
    MOVIELENS_TEMPLATE,
    item_text,
    item_texts,
    render,
    text_rule_digest,
)


def test_movielens_row() -> None:
    row = {"title": "Toy Story", "year": 1995, "genres": "Animation|Children's|Comedy"}
    expected = "Toy Story (1995). Genres: Animation, Children's, Comedy"
    assert render(row, MOVIELENS_TEMPLATE) == expected


def test_missing_fields_leave_no_debris() -> None:
    assert render({"title": "Heat", "year": None, "genres": ""}, MOVIELENS_TEMPLATE) == "Heat"
    assert render({"title": "Heat", "year": float("nan"), "genres": "Crime"},
                  MOVIELENS_TEMPLATE) == "Heat. Genres: Crime"


def test_default_template_reads_movielens_rows_as_before() -> None:
    row = {"item_id": "1", "title": "Toy Story", "year": 1995,
           "genres": "Animation|Children's|Comedy"}
    assert item_text(row) == render(row, MOVIELENS_TEMPLATE) == \
        "Toy Story (1995). Genres: Animation, Children's, Comedy"
    assert item_text({"title": "Heat", "genres": "Crime"}) == "Heat. Genres: Crime"


def test_default_template_joins_the_known_fields_in_a_fixed_order() -> None:
    row = {"brand": "Acme", "description": "A sturdy kettle.", "name": "Kettle",
           "tags": "kitchen|steel", "colour": "red"}
    assert item_text(row) == "Kettle. A sturdy kettle. kitchen, steel. Acme"  # no colour


def test_a_row_reads_the_same_alone_and_inside_any_table() -> None:
    heat = {"item_id": "h", "title": "Heat", "year": 1995, "genres": "Crime|Drama"}
    shop = {"item_id": "k", "name": "Kettle", "description": "A sturdy kettle.",
            "brand": "Acme"}
    table = pd.DataFrame([heat, shop])  # each row has the other's columns, empty
    assert item_texts(table) == [item_text(heat), item_text(shop)]
    assert item_texts(table) == ["Heat (1995). Genres: Crime, Drama",
                                 "Kettle. A sturdy kettle. Acme"]
    assert item_texts(table, "{title}") == [item_text(heat, "{title}"), "item k"]


def test_list_attributes_read_as_comma_lists() -> None:
    row = {"title": "Heat", "genres": ["Crime", "Drama"], "tags": ("heist", "", None)}
    assert item_text(row) == "Heat. Genres: Crime, Drama. heist"
    assert item_text({"title": "Heat", "genres": []}) == "Heat"


def test_the_text_rule_digest_names_the_template() -> None:
    assert text_rule_digest(None) == text_rule_digest(DEFAULT_TEMPLATE)
    assert text_rule_digest("{title}") != text_rule_digest(None)
    assert len(text_rule_digest()) == 12


def test_item_without_text_falls_back_to_its_id() -> None:
    items = pd.DataFrame({"item_id": ["7", "8"], "title": ["Brazil", None]})
    assert item_texts(items, "{title}") == ["Brazil", "item 8"]
    assert item_texts(items) == ["Brazil", "item 8"]
    assert item_text({"item_id": "8"}) == "item 8"


def test_template_naming_no_column_is_an_error() -> None:
    items = pd.DataFrame({"item_id": ["1"], "title": ["x"]})
    with pytest.raises(DataError, match="plot"):
        item_texts(items, "{plot}")
