"""Per-user endpoints: recommendations, profile, interest over time, export, erasure."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from driftrec.recommend.pipeline import Recommendation
from driftrec.recommend.user_profile import build_profile, interest_history
from driftrec.service.auth import require_admin, require_read
from driftrec.service.core import ServiceCore
from driftrec.service.routes.deps import UserId, check_id, check_k, core, process_core
from driftrec.service.schemas import (
    MAX_K,
    Deleted,
    Export,
    InterestHistory,
    Profile,
    Recommendations,
    RecommendedItem,
)

router = APIRouter(prefix="/v1/users", tags=["users"])


def as_items(recs: list[Recommendation]) -> list[RecommendedItem]:
    return [RecommendedItem(item_id=r.item_id, score=round(r.score, 6), source=r.source,
                            reasons=r.reasons, title=r.title) for r in recs]


def count_sources(request: Request, recs: list[Recommendation]) -> None:
    counter = request.app.state.metrics.recommendations
    for source in {r.source for r in recs}:
        counter.labels(source).inc()


@router.get("/{user_id}/recommendations", response_model=Recommendations,
            dependencies=[Depends(require_read)], summary="Ranked items for a user")
async def recommendations(
    request: Request,
    user_id: str = UserId,
    k: int = Query(10, ge=1, le=MAX_K, description="how many items"),
    exclude_seen: bool = Query(True, description="leave out items the user has events on"),
    diversity: float = Query(0.0, ge=0.0, le=1.0,
                             description="0 = pure relevance, 1 = most diverse (MMR)"),
    explain: bool = Query(True, description="add reasons in words"),
    c: ServiceCore = Depends(process_core),
) -> Recommendations:
    """Works for unknown users too (popularity); ``source`` says which signal ranked each
    item and ``reasons`` why, in words."""
    # On the event loop, not the thread pool: a user held in memory costs well under a
    # millisecond, less than the hop to a thread and back; in one process the interpreter
    # lock runs one request's Python at a time either way (docs/service.md, Processes).
    # With ``scoring_thread``, only the model's scores of a changed history are computed
    # in a worker thread, batched with other requests' (recommend/batching.py).
    check_id(c, "path.user_id", user_id)
    check_k(c, k)
    key = c.store.user_key(user_id)
    revision = c.refresh_for(key)  # changes other processes made, and the user's revision
    context = await c.engine.prepare(key, revision)
    recs = c.engine.recommend(key, k, exclude_seen=exclude_seen, diversity=diversity,
                              explain=explain, revision=revision, context=context)
    count_sources(request, recs)
    recording = recs and c.settings.feedback.record
    recommendation_id = c.record_impression(key, recs) if recording else None
    return Recommendations(user_id=user_id, model_version=c.model_version, items=as_items(recs),
                           recommendation_id=recommendation_id)


@router.get("/{user_id}/profile", response_model=Profile,
            dependencies=[Depends(require_read)], summary="A user's interest profile")
def profile(user_id: str = UserId, c: ServiceCore = Depends(core)) -> dict[str, Any]:
    """Segment, long- and short-term topics, interest clusters, drift and history length."""
    check_id(c, "path.user_id", user_id)
    ctx = c.engine.user_context(c.store.user_key(user_id))
    segs, seg_id = c.engine.segment_of(ctx)
    segment = segs.describe(seg_id) if segs is not None else None
    return {"user_id": user_id,
            **build_profile(ctx.state, ctx.n_events, c.catalogue, segment)}


@router.get("/{user_id}/interest-history", response_model=InterestHistory,
            dependencies=[Depends(require_read)], summary="A user's interest over time")
def history(user_id: str = UserId,
            limit: int = Query(500, ge=1, le=5000, description="most recent events replayed"),
            c: ServiceCore = Depends(core)) -> dict[str, Any]:
    """One point per event: drift and 2-D positions (catalogue PCA) of short- and
    long-term interest, for plotting."""
    check_id(c, "path.user_id", user_id)
    key = c.store.user_key(user_id)
    events = c.store.user_events(key, limit=limit)
    return {"user_id": user_id,
            "points": interest_history(events, key, c.catalogue, c.projection)}


@router.get("/{user_id}/export", response_model=Export,
            dependencies=[Depends(require_admin)], summary="Everything stored about a user")
def export(user_id: str = UserId, c: ServiceCore = Depends(core)) -> dict[str, Any]:
    """For a data-subject access request: events, interest state and counts."""
    check_id(c, "path.user_id", user_id)
    return {"user_id": user_id, **c.store.export_user(c.store.user_key(user_id))}


@router.delete("/{user_id}", response_model=Deleted, dependencies=[Depends(require_admin)],
               summary="Erase a user")
def delete_user(user_id: str = UserId, c: ServiceCore = Depends(core)) -> Deleted:
    """Erases the user's events and interest state, and drops them from the user segments
    (the only derived data that names a user; recommendations are not cached)."""
    check_id(c, "path.user_id", user_id)
    key = c.store.user_key(user_id)
    c.writer.flush()  # lists served to the user but not yet written go too
    counts = c.store.delete_user(key)
    c.segments.forget(key)
    return Deleted(user_id=user_id, events_deleted=counts["events"],
                   state_deleted=counts["states"] > 0)
