"""Catalogue endpoints: upsert (embedded on write), read, hide, similar items."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query

from driftrec.recommend.encoding import from_bytes
from driftrec.service.auth import require_admin, require_read
from driftrec.service.core import ItemWrite, ServiceCore
from driftrec.service.routes.deps import ItemId, check_id, check_k, check_text, core, reject
from driftrec.service.routes.users import as_items
from driftrec.service.schemas import (
    MAX_K,
    ItemBatch,
    ItemIn,
    ItemOut,
    ItemsUpserted,
    SimilarItems,
)
from driftrec.service.validation import ErrorOut

router = APIRouter(prefix="/v1/items", tags=["items"])
NOT_FOUND = {404: {"model": ErrorOut, "description": "no such item"}}


def _item_out(c: ServiceCore, item_id: str) -> ItemOut:
    rec = c.store.get_item(item_id)
    if rec is None:
        raise HTTPException(404, f"no item {item_id!r}")
    return ItemOut(item_id=rec.item_id, title=rec.title, text=rec.text,
                   attributes=rec.attributes, hidden=rec.hidden,
                   has_embedding=from_bytes(rec.embedding, c.catalogue.dim) is not None,
                   updated_at=rec.updated_at)


def _check_item(c: ServiceCore, prefix: str, item: ItemIn) -> None:
    check_text(c, f"{prefix}.title", item.title)
    check_text(c, f"{prefix}.text", item.text)


@router.put("/{item_id}", response_model=ItemOut, dependencies=[Depends(require_admin)],
            summary="Create or replace an item")
def put_item(item: ItemIn, item_id: str = ItemId, c: ServiceCore = Depends(core)) -> ItemOut:
    """The item's text is embedded on write; it is recommendable when this returns."""
    check_id(c, "path.item_id", item_id)
    _check_item(c, "body", item)
    c.upsert_items([ItemWrite(item_id, item.title, item.text, item.attributes, item.hidden)])
    return _item_out(c, item_id)


@router.post("", response_model=ItemsUpserted, dependencies=[Depends(require_admin)],
             summary="Create or replace many items")
def post_items(batch: ItemBatch, c: ServiceCore = Depends(core)) -> ItemsUpserted:
    if len(batch.items) > c.settings.max_batch_items:
        raise reject("body.items", f"at most {c.settings.max_batch_items} items per request",
                     413)
    for i, item in enumerate(batch.items):
        check_id(c, f"body.items.{i}.item_id", item.item_id)
        _check_item(c, f"body.items.{i}", item)
    n = c.upsert_items([ItemWrite(i.item_id, i.title, i.text, i.attributes, i.hidden)
                        for i in batch.items])
    return ItemsUpserted(upserted=n)


@router.get("/{item_id}", response_model=ItemOut, dependencies=[Depends(require_read)],
            responses=NOT_FOUND, summary="Read an item")
def get_item(item_id: str = ItemId, c: ServiceCore = Depends(core)) -> ItemOut:
    return _item_out(c, item_id)


@router.delete("/{item_id}", response_model=ItemOut, dependencies=[Depends(require_admin)],
               responses=NOT_FOUND, summary="Hide an item")
def delete_item(item_id: str = ItemId, c: ServiceCore = Depends(core)) -> ItemOut:
    """Hides the item from every recommendation; events that name it are kept."""
    if not c.hide_item(item_id):
        raise HTTPException(404, f"no item {item_id!r}")
    return _item_out(c, item_id)


@router.get("/{item_id}/similar", response_model=SimilarItems,
            dependencies=[Depends(require_read)], responses=NOT_FOUND,
            summary="Items with similar text")
def similar(item_id: str = ItemId, k: int = Query(10, ge=1, le=MAX_K),
            c: ServiceCore = Depends(core)) -> SimilarItems:
    check_k(c, k)
    if item_id not in c.catalogue.pos:
        raise HTTPException(404, f"no item {item_id!r}")
    return SimilarItems(item_id=item_id, items=as_items(c.engine.similar(item_id, k)))
