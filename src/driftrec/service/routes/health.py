"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])
#: Seconds a client (or load balancer) should wait before asking again after a 503.
RETRY_AFTER_S = "1"


@router.get("/health/live", summary="The process is up")
def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/health/ready", summary="The service can answer requests", responses={
    503: {"description": "the database does not answer, or the configured model is not "
                         "loaded", "headers": {"Retry-After": {
                             "description": "seconds to wait before asking again",
                             "required": True, "schema": {"type": "integer"}}}}})
def ready(request: Request) -> JSONResponse:
    """Ready when the database answers and a configured model is loaded."""
    core = request.app.state.core
    checks: dict[str, str] = {}
    try:
        core.store.ping()
        checks["database"] = "ok"
    except Exception as exc:
        log.warning("readiness: database check failed: %s", exc)
        checks["database"] = "unreachable"
    wants_model = core.settings.model_dir is not None
    checks["model"] = core.model_version if core.models.current else (
        "missing" if wants_model else "none configured")
    ok = checks["database"] == "ok" and checks["model"] != "missing"
    return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks},
                        status_code=200 if ok else 503,
                        headers=None if ok else {"Retry-After": RETRY_AFTER_S})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry),
                    media_type=CONTENT_TYPE_LATEST)
