"""Admin endpoints: switch model versions without dropping requests."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException

from driftrec.recommend.models import ModelLoadError
from driftrec.service.auth import require_admin
from driftrec.service.core import ServiceCore
from driftrec.service.routes.deps import core
from driftrec.service.schemas import ReloadIn, ReloadOut

router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(require_admin)])


@router.post("/reload", response_model=ReloadOut, summary="Serve a newly trained model")
def reload(body: ReloadIn | None = Body(None), c: ServiceCore = Depends(core)) -> ReloadOut:
    """Loads the model (the newest version in the folder) while requests keep being served
    by the old one, then switches this and every other process to it."""
    try:
        version, previous, name = c.reload(body.model_dir if body else None)
    except (ModelLoadError, ValueError) as exc:
        raise HTTPException(422, detail=[{"loc": ["body", "model_dir"], "msg": str(exc),
                                          "type": "model"}]) from None
    return ReloadOut(model_version=version, previous_version=previous, model_name=name)


@router.get("/models", summary="Model versions this service has served")
def models(c: ServiceCore = Depends(core)) -> dict[str, Any]:
    return {"active": c.model_version, "versions": c.store.model_versions()}
