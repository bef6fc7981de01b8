"""``POST /v1/recommendations/query``: recommendations from free text."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from driftrec.service.auth import require_read
from driftrec.service.core import ServiceCore
from driftrec.service.routes.deps import check_id, check_k, check_text, core
from driftrec.service.routes.users import as_items, count_sources
from driftrec.service.schemas import QueryIn, Recommendations

router = APIRouter(prefix="/v1/recommendations", tags=["recommendations"])


@router.post("/query", response_model=Recommendations, dependencies=[Depends(require_read)],
             summary="Recommendations from free text")
def query(body: QueryIn, request: Request, c: ServiceCore = Depends(core)) -> Recommendations:
    """Items whose text matches the query; with ``user_id`` also leaning towards that
    user's interest and leaving out what they have seen."""
    check_text(c, "body.query", body.query)
    check_id(c, "body.user_id", body.user_id)
    check_k(c, body.k)
    key = c.store.user_key(body.user_id) if body.user_id else ""
    recs = c.engine.recommend(key, body.k, exclude_seen=body.exclude_seen,
                              diversity=body.diversity, explain=body.explain,
                              query=body.query, query_vec=c.encode_query(body.query))
    count_sources(request, recs)
    return Recommendations(user_id=body.user_id, model_version=c.model_version,
                           items=as_items(recs))
