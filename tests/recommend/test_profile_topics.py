"""Readable topics for interest vectors."""

from __future__ import annotations

import numpy as np

from driftrec.recommend.served_items import Catalogue
from driftrec.recommend.user_profile import item_topics, topics
from driftrec.store import ItemRecord


def catalogue() -> Catalogue:
    cat = Catalogue(dim=2)
    vecs = {"a": [1, 0], "b": [0.9, 0.1], "c": [0, 1]}
    attrs = {"a": {"genres": "Horror|Sci-Fi", "year": "1979"},
             "b": {"genres": ["Horror"]}, "c": {"tags": "romance, paris", "price": "12"}}
    cat._apply([ItemRecord(i, i.upper(), attributes=attrs[i],
                           embedding=np.asarray(v, np.float32).tobytes(), seq=1)
                for i, v in vecs.items()])
    return cat


def test_item_topics_keep_topic_attributes_only():
    assert item_topics({"genres": "Horror|Sci-Fi", "year": "1979"}) == ["Horror", "Sci-Fi"]
    assert item_topics({"tags": "romance, paris", "price": "12"}) == ["romance", "paris"]
    assert item_topics({"moods": ["dark", "tense"]}) == ["dark", "tense"]


def test_topics_weight_the_users_items_by_similarity():
    cat = catalogue()
    assert topics(np.array([1.0, 0.0]), cat, 2, items=["a", "b", "c"]) == ["Horror", "Sci-Fi"]
    assert topics(np.array([0.0, 1.0]), cat, 2, items=["a", "b", "c"]) == ["romance", "paris"]
    assert topics(np.array([0.0, 1.0]), cat, 1) == ["romance"]  # nearest catalogue items
    assert topics(None, cat) == []
