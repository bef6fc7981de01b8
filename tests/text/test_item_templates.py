"""Item text templates render MovieLens rows and survive missing fields."""

from __future__ import annotations

import pandas as pd
import pytest

from driftrec.data.errors import DataError
from driftrec.text.templates import MOVIELENS_TEMPLATE, default_template, item_texts, render


def test_movielens_row() -> None:
    row = {"title": "Toy Story", "year": 1995, "genres": "Animation|Children's|Comedy"}
    expected = "Toy Story (1995). Genres: Animation, Children's, Comedy"
    assert render(row, MOVIELENS_TEMPLATE) == expected


def test_missing_fields_leave_no_debris() -> None:
    assert render({"title": "Heat", "year": None, "genres": ""}, MOVIELENS_TEMPLATE) == "Heat"
    assert render({"title": "Heat", "year": float("nan"), "genres": "Crime"},
                  MOVIELENS_TEMPLATE) == "Heat. Genres: Crime"


def test_default_template_follows_the_columns() -> None:
    assert default_template(["item_id", "title", "year", "genres"]) == MOVIELENS_TEMPLATE
    assert default_template(["item_id", "name", "description"]) == "{name}. {description}"
    assert default_template(["item_id"]) == "{item_id}"


def test_item_without_text_falls_back_to_its_id() -> None:
    items = pd.DataFrame({"item_id": ["7", "8"], "title": ["Brazil", None]})
    assert item_texts(items, "{title}") == ["Brazil", "item 8"]


def test_template_naming_no_column_is_an_error() -> None:
    items = pd.DataFrame({"item_id": ["1"], "title": ["x"]})
    with pytest.raises(DataError, match="plot"):
        item_texts(items, "{plot}")
