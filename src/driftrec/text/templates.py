"""Item text templates: how a catalogue row becomes the sentence the language model reads.

A template is a ``str.format`` pattern over item columns. Missing or empty fields render
as nothing and the punctuation around them is tidied away, so ``"{title} ({year})"`` over
an item without a year reads ``"Heat"`` rather than ``"Heat ()"``.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable

import pandas as pd

from driftrec.data.errors import DataError
from driftrec.data.schema import ITEM_ID

MOVIELENS_TEMPLATE = "{title} ({year}). Genres: {genres}"
#: Columns tried, in order, when no template is given and the catalogue is not MovieLens-like.
TEXT_COLUMNS = ("title", "name", "description", "category", "categories", "genres", "tags",
                "brand", "text")
#: Multi-valued fields use this separator in driftrec's data files (``Comedy|Drama``).
LIST_SEPARATOR = "|"


def _clean_value(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    if text.lower() in {"nan", "none", "<na>", "(no genres listed)"}:
        return ""
    return ", ".join(p.strip() for p in text.split(LIST_SEPARATOR) if p.strip())


def template_fields(template: str) -> list[str]:
    """The column names a template refers to."""
    return [f for _, f, _, _ in string.Formatter().parse(template) if f]


def _tidy(text: str) -> str:
    text = re.sub(r"\(\s*\)|\[\s*\]", "", text)          # empty brackets
    text = re.sub(r"\b[\w ]{1,30}:\s*(?=\.|$)", "", text)  # "Genres: " with nothing after
    text = re.sub(r"\s+([.,;:])", r"\1", text)
    text = re.sub(r"([.,;:])(\s*[.,;:])+", r"\1", text)
    text = re.sub(r"\s{2,}", " ", text)
    return text.strip(" .,;:")


def default_template(columns: Iterable[str]) -> str:
    """MovieLens pattern when the columns fit it, else the known text columns joined."""
    cols = set(columns)
    if {"title", "genres"} <= cols:
        return MOVIELENS_TEMPLATE if "year" in cols else "{title}. Genres: {genres}"
    present = [c for c in TEXT_COLUMNS if c in cols]
    if not present:
        return "{" + ITEM_ID + "}"
    return ". ".join("{" + c + "}" for c in present)


def render(row: dict[str, object], template: str) -> str:
    """One item's text; missing fields become empty and the leftovers are tidied."""
    values = {f: _clean_value(row.get(f)) for f in template_fields(template)}
    return _tidy(template.format(**values))


def item_texts(items: pd.DataFrame, template: str | None = None) -> list[str]:
    """Texts of all catalogue rows in order; the item id stands in for an item with no text."""
    template = template or default_template(items.columns)
    unknown = [f for f in template_fields(template) if f not in items.columns]
    if unknown and len(unknown) == len(template_fields(template)):
        raise DataError(
            f"item text template {template!r} names no column of the items table "
            f"(columns: {list(items.columns)})", field=unknown[0],
        )
    records = items.to_dict("records")
    texts = [render(r, template) for r in records]
    ids = items[ITEM_ID].astype(str).tolist() if ITEM_ID in items.columns else [""] * len(texts)
    return [t if t else f"item {iid}" for t, iid in zip(texts, ids, strict=True)]
