"""One text rule for every route an item arrives by: an item written through the API, the
same item in a model bundle's catalogue, and items re-embedded at start-up or when a model
with another text template is loaded all embed the same text."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from service_helpers import synthetic_events, synthetic_items
from sqlalchemy import update

from driftrec.data.dataset import Dataset
from driftrec.models.bundle import save_bundle
from driftrec.models.content import ContentRecommender
from driftrec.models.registry import create_model
from driftrec.recommend.encoding import HashingEncoder, to_bytes
from driftrec.store import tables
from driftrec.text import item_texts

CORE_LOG = "driftrec.service.core"


def _rich_items():
    """The synthetic catalogue with a year and a description per item."""
    items = synthetic_items()
    items["year"] = [1970 + i for i in range(len(items))]
    items["description"] = [f"A story about a {t.split(' (')[0].lower()}."
                            for t in items["title"]]
    return items


@pytest.fixture(scope="module")
def rich_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    items = _rich_items()
    ds = Dataset.from_frames(synthetic_events(items), items, name="rich")
    model = create_model("itemknn", neighbours=20).fit(ds)
    return save_bundle(model, ds, tmp_path_factory.mktemp("rich") / "itemknn")


@pytest.fixture(scope="module")
def title_only_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A content model whose item text template is ``"{title}"``."""
    items = _rich_items()
    ds = Dataset.from_frames(synthetic_events(items), items, name="rich")
    vectors = HashingEncoder().encode(item_texts(ds.items, "{title}"))
    model = ContentRecommender(encoder="hashing", template="{title}", n_neighbours=5)
    model.fit(ds, item_vectors=vectors)
    return save_bundle(model, ds, tmp_path_factory.mktemp("title") / "content")


def test_an_item_put_through_the_api_embeds_like_the_same_item_from_the_bundle(
        make_client, rich_bundle):
    client = make_client(model=rich_bundle)
    core = client.app.state.core
    bundled = core.store.get_item("space-0")  # imported from the bundle's catalogue
    assert bundled.title == "Star (Sci-Fi story)"
    assert bundled.attributes["description"] == "A story about a star."

    response = client.put("/v1/items/space-0-again", json={
        "title": "Star (Sci-Fi story)", "text": "A story about a star.",
        "attributes": {"year": 1970, "genres": ["Sci-Fi"]}})
    assert response.status_code == 200, response.text

    assert np.array_equal(core.catalogue.vector("space-0-again"),
                          core.catalogue.vector("space-0"))
    assert core.store.get_item("space-0-again").encoder == bundled.encoder
    assert bundled.encoder == core.embedding_key(None)
    assert bundled.encoder.startswith("hashing#")


def test_items_embedded_under_another_text_rule_are_re_embedded_once_at_start_up(
        make_client, rich_bundle, caplog):
    first = make_client(model=rich_bundle)
    first.put("/v1/items/noir", json={"title": "Alibi Vault", "text": "A heist goes wrong.",
                                      "attributes": {"genres": "Crime"}})
    store = first.app.state.core.store
    n_items = len(store.items_since(0))
    # as a store written under the old rule: the bare encoder name, a vector of the old text
    old = HashingEncoder().encode(["Alibi Vault. A heist goes wrong.. Genres: Crime"])[0]
    with store.engine.begin() as conn:
        conn.execute(update(tables.items).values(encoder="hashing"))
        conn.execute(update(tables.items).where(tables.items.c.item_id == "noir")
                     .values(embedding=to_bytes(old)))

    with caplog.at_level(logging.INFO, logger=CORE_LOG):
        second = make_client(model=rich_bundle)
    core = second.app.state.core
    assert f"re-embedding {n_items} stored items" in caplog.text
    assert "re-embedding done" in caplog.text
    assert {r.encoder for r in core.store.items_since(0)} == {core.embedding_key(None)}
    want = HashingEncoder().encode(["Alibi Vault. A heist goes wrong. Genres: Crime"])[0]
    assert np.allclose(core.catalogue.vector("noir"), want)

    caplog.clear()
    with caplog.at_level(logging.INFO, logger=CORE_LOG):
        make_client(model=rich_bundle)
    assert "re-embedding" not in caplog.text  # once only


def test_a_model_with_another_template_re_embeds_the_catalogue_when_it_is_loaded(
        make_client, rich_bundle, title_only_bundle):
    client = make_client(model=rich_bundle)
    client.put("/v1/items/noir", json={"title": "Alibi Vault", "text": "A heist goes wrong."})
    response = client.post("/v1/admin/reload", json={"model_dir": str(title_only_bundle)})
    assert response.status_code == 200, response.text

    core = client.app.state.core
    assert core.text_template == "{title}"
    enc = HashingEncoder()
    assert np.allclose(core.catalogue.vector("noir"), enc.encode(["Alibi Vault"])[0])
    assert np.allclose(core.catalogue.vector("space-0"), enc.encode(["Star (Sci-Fi story)"])[0])
    client.put("/v1/items/caper", json={"title": "Getaway Mob", "text": "Not read."})
    assert np.allclose(core.catalogue.vector("caper"), enc.encode(["Getaway Mob"])[0])
    assert {r.encoder for r in core.store.items_since(0)} == {core.embedding_key("{title}")}
