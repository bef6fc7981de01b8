"""Admin endpoints: switch model versions without dropping requests."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException

from driftrec.feedback.loop import offline_weights
from driftrec.recommend.models import ModelLoadError
from driftrec.service.auth import require_admin
from driftrec.service.core import ServiceCore
from driftrec.service.routes.deps import core
from driftrec.service.schemas import FusionOut, FusionWeightsOut, ReloadIn, ReloadOut
from driftrec.store import feedback as fb

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


@router.get("/fusion", response_model=FusionOut,
            summary="The fused model's weights: offline, learned online, and their history")
def fusion(c: ServiceCore = Depends(core)) -> FusionOut:
    """The weights every process serves (``current``; version 0 means the model's offline
    weights), earlier versions, update and rollback counts and the champion/challenger
    statistics (moving-average log-loss of the online and the offline weights)."""
    loaded = c.models.current
    version = loaded.version if loaded is not None else "none"
    offline = offline_weights(loaded.model) if loaded is not None else None
    signals = list(getattr(loaded.model, "signals", [])) if loaded is not None else []

    def named(coef, intercept) -> dict[str, float]:
        return {**{s: float(w) for s, w in zip(signals, coef, strict=True)},
                "bias": float(intercept)}

    with c.store.engine.connect() as conn:
        active = fb.active_weights(conn, version)
        history = [w for w in fb.recent_weights(conn) if w.model_version == version]

    def out(row: fb.WeightsRow) -> FusionWeightsOut:
        return FusionWeightsOut(version=row.version, reason=row.reason,
                                weights=named(row.coef, row.intercept), updates=row.updates,
                                created_at=row.created_at, stats=row.stats)

    current = out(active) if active is not None else (FusionWeightsOut(
        version=0, reason="offline", weights=named(offline.coef, offline.intercept),
        updates=0) if offline is not None else None)
    return FusionOut(model_version=version, enabled=c.settings.feedback.enabled,
                     offline=named(offline.coef, offline.intercept) if offline else None,
                     current=current,
                     previous=[out(w) for w in history
                               if active is None or w.version != active.version])
