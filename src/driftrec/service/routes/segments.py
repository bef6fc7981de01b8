"""User segments: overview for reading, rebuild for admins."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from driftrec.service.auth import require_admin, require_read
from driftrec.service.core import ServiceCore
from driftrec.service.routes.deps import core
from driftrec.service.schemas import SegmentsOut

router = APIRouter(prefix="/v1", tags=["segments"])


def _overview(c: ServiceCore, segs) -> dict[str, Any]:
    if segs is None:
        return {"built_at": None, "segments": []}
    return {"built_at": int(segs.built_at), "version": segs.version, "k": segs.segmentation.k,
            "silhouette": round(float(segs.segmentation.silhouette), 4),
            "segments": segs.overview(c.catalogue)}


@router.get("/segments", response_model=SegmentsOut, dependencies=[Depends(require_read)],
            summary="User segments")
def segments(c: ServiceCore = Depends(core)) -> dict[str, Any]:
    """Segments of users by long-term interest: label, size, what distinguishes each,
    exemplars and popular items. One versioned segmentation is shared by every process;
    empty until enough users have interest (versions are made in the background)."""
    return _overview(c, c.segments.get())


@router.post("/admin/segments/rebuild", response_model=SegmentsOut,
             dependencies=[Depends(require_admin)], summary="Rebuild user segments now")
def rebuild(c: ServiceCore = Depends(core)) -> dict[str, Any]:
    return _overview(c, c.segments.rebuild())
