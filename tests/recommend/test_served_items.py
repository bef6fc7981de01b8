"""The in-memory catalogue reads the store page by page and follows later writes."""

from __future__ import annotations

import numpy as np
import pytest

from driftrec.recommend.encoding import to_bytes
from driftrec.recommend.served_items import Catalogue
from driftrec.store import ItemRecord, Store


def item(i: int, dim: int = 4) -> ItemRecord:
    vec = np.zeros(dim, dtype=np.float32)
    vec[i % dim] = 1.0
    return ItemRecord(f"i{i}", f"title {i}", embedding=to_bytes(vec), encoder="e")


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'items.db'}", "secret")


def test_item_pages_come_in_catalogue_order_and_hold_at_most_a_page(store):
    store.upsert_items([item(i) for i in range(7)])
    store.upsert_items([item(i) for i in range(7, 10)])
    pages = list(store.item_pages_since(0, page=3))
    assert [len(p) for p in pages] == [3, 3, 3, 1]
    assert [r.item_id for p in pages for r in p] == [r.item_id for r in store.items_since(0)]
    assert [r.seq for p in pages for r in p] == sorted(r.seq for p in pages for r in p)


def test_a_catalogue_grown_over_many_syncs_equals_one_read_at_once(store, monkeypatch):
    grown = Catalogue(dim=4)
    for start in range(0, 25, 5):  # five writes, a sync after each: the buffer grows
        store.upsert_items([item(i) for i in range(start, start + 5)])
        assert grown.sync(store)
    assert not grown.sync(store)  # nothing new
    store.upsert_items([ItemRecord("i3", "retitled", embedding=to_bytes(np.ones(4, np.float32)),
                                   encoder="e")])
    assert grown.sync(store)

    real = Store.item_pages_since
    monkeypatch.setattr(Store, "item_pages_since",
                        lambda self, seq, page=10_000: real(self, seq, page=4))
    once = Catalogue(dim=4)
    assert once.sync(store)  # seven pages in one sync
    ids = [f"i{i}" for i in range(25)]
    for cat in (grown, once):
        assert sorted(cat.ids) == sorted(ids) and len(cat.pos) == 25
        assert cat.vectors.shape == (25, 4) and cat.has_vector.all()
        assert cat.title("i3") == "retitled"
        np.testing.assert_array_equal(cat.vector("i3"), np.ones(4, np.float32))
        np.testing.assert_array_equal(cat.vector("i6"), np.eye(4, dtype=np.float32)[2])
    for i in ids:
        np.testing.assert_array_equal(grown.vector(i), once.vector(i))
    assert grown.seq == once.seq
