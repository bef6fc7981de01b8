"""Item text templates: how a catalogue row becomes the sentence the language model reads.

A template is a ``str.format`` pattern over item columns. Missing or empty fields render
as nothing and the punctuation around them is tidied away, so ``"{title} ({year})"`` over
an item without a year reads ``"Heat"`` rather than ``"Heat ()"``.

One rule for every route: :func:`item_text` renders one row (a mapping of field to value),
and :func:`item_texts` renders each row of a table through it. The default template names
every known text field in a fixed order, so a row's text never depends on which other
columns its table has: an item written through the API and the same item in a trained
bundle's catalogue read, and therefore embed, alike. For MovieLens rows (title, year,
genres) it reads ``"Toy Story (1995). Genres: Animation, Children's, Comedy"``.
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Mapping

import numpy as np
import pandas as pd

from driftrec.data.errors import DataError
from driftrec.data.schema import ITEM_ID

MOVIELENS_TEMPLATE = "{title} ({year}). Genres: {genres}"
#: The template used when none is given: every known text field, in this order.
DEFAULT_TEMPLATE = ("{title} ({year}). {name}. {description}. {category}. {categories}. "
                    "Genres: {genres}. {tags}. {brand}. {text}")
#: Bump when rendering changes in a way templates do not show (cleaning, tidying, how an API
#: item becomes a row): stored item vectors are keyed by it and re-embedded when it changes.
TEXT_RULE_VERSION = 1
#: Multi-valued fields use this separator in driftrec's data files (``Comedy|Drama``).
LIST_SEPARATOR = "|"


def _clean_value(value: object) -> str:
    if isinstance(value, (list, tuple, np.ndarray)):  # API attributes, parquet list columns
        return ", ".join(p for p in map(_clean_value, value) if p)
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


def text_rule_digest(template: str | None = None) -> str:
    """Short digest of the text rule (template and :data:`TEXT_RULE_VERSION`): vectors
    embedded under the same digest and encoder came from the same texts."""
    rule = f"{TEXT_RULE_VERSION}\n{template or DEFAULT_TEMPLATE}"
    return hashlib.sha256(rule.encode()).hexdigest()[:12]


def render(row: Mapping[str, object], template: str) -> str:
    """One item's text; missing fields become empty and the leftovers are tidied."""
    values = {f: _clean_value(row.get(f)) for f in template_fields(template)}
    return _tidy(template.format(**values))


def item_text(row: Mapping[str, object], template: str | None = None) -> str:
    """The text one item is embedded from; ``"item <id>"`` for an item with no text."""
    text = render(row, template or DEFAULT_TEMPLATE)
    if text:
        return text
    item_id = row.get(ITEM_ID)
    return f"item {'' if item_id is None else item_id}"


def item_texts(items: pd.DataFrame, template: str | None = None) -> list[str]:
    """Texts of all catalogue rows in order, each as :func:`item_text` renders it alone."""
    if template:
        fields = template_fields(template)
        unknown = [f for f in fields if f not in items.columns]
        if unknown and len(unknown) == len(fields):
            raise DataError(
                f"item text template {template!r} names no column of the items table "
                f"(columns: {list(items.columns)})", field=unknown[0],
            )
    return [item_text(r, template) for r in items.to_dict("records")]
