"""The FastAPI application factory."""

from __future__ import annotations

import errno
import gc
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

import driftrec
from driftrec.config import Settings, load_settings
from driftrec.service.core import ServiceCore
from driftrec.service.middleware import BodyLimitMiddleware, Metrics, MetricsMiddleware
from driftrec.service.openapi import document_error_answers
from driftrec.service.routes import admin, events, health, items, query, segments, users
from driftrec.service.validation import (
    error_body,
    field_errors,
    http_error,
    no_unknown_query_parameters,
)
from driftrec.text import TextEncoder
from driftrec.web.routes import router as web_router

log = logging.getLogger(__name__)

DESCRIPTION = """Recommendations from a living interest state.

Every event moves the user's interest at once; the next recommendation reflects it.
Reads need an API key with the read or admin role, writes an admin key (`X-API-Key`).
User ids are pseudonymised before they are stored.
"""


def app_from_environment() -> FastAPI:
    """The app of one worker process of ``driftrec serve --workers N``, or for ``uvicorn
    --factory driftrec.service.app:app_from_environment`` (settings from the ``DRIFTREC_*``
    environment and the settings file ``DRIFTREC_CONFIG`` names)."""
    settings = load_settings()
    limit_compute_threads(settings.compute_threads)
    app = create_app(settings)
    settle_heap()
    return app


#: The older name of :func:`app_from_environment`, kept for deployments that use it.
app_from_env = app_from_environment


def settle_heap() -> None:
    """Hide everything a server process built at start-up (modules, model, catalogue) from
    the cyclic garbage collector, once the app is ready.

    A start-up heap holds about half a million tracked objects (torch, transformers,
    pandas); every full collection walked all of them and stalled each request in the
    process (about a quarter of a second per collection, measured in a loaded process).
    Frozen objects are still freed by reference counting; only cycles among them are
    kept.
    """
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None, *, encoder: TextEncoder | None = None
               ) -> FastAPI:
    """Build the service; opens the database (migrating it) and loads the model now."""
    settings = settings or load_settings()
    core = ServiceCore(settings, encoder=encoder)
    core.engine.warm()  # what the first request would wait for (text index, popularity)
    if not settings.auth_enabled:
        log.warning("no API keys configured: the API is open to anyone who can reach it; "
                    "serve on localhost only or set DRIFTREC_API_KEYS_READ/_ADMIN")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        core.start_background()
        yield
        core.close()

    app = FastAPI(title="driftrec", version=driftrec.__version__, description=DESCRIPTION,
                  lifespan=lifespan)
    app.state.core = core
    app.state.metrics = metrics = Metrics()

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body(field_errors(exc.errors())), status_code=422)

    app.add_exception_handler(StarletteHTTPException, http_error)

    @app.exception_handler(OperationalError)
    async def _db_down(_: Request, exc: OperationalError) -> JSONResponse:
        if disk_full(exc.orig):
            return _disk_full_answer()
        log.error("database error: %s", exc.orig.__class__.__name__)
        return JSONResponse({"detail": "the database is unavailable; retry later"},
                            status_code=503, headers={"Retry-After": health.RETRY_AFTER_S})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if disk_full(exc):
            return _disk_full_answer()
        route = getattr(request.scope.get("route"), "path", "unmatched")
        log.error("unhandled error in %s %s", request.method, route, exc_info=exc)
        return JSONResponse({"detail": "internal error"}, status_code=500)

    strict_query = [Depends(no_unknown_query_parameters)]
    for module in (events, users, items, query, segments, admin):
        app.include_router(module.router, dependencies=strict_query)
    app.include_router(health.router)
    app.include_router(web_router)
    document_error_answers(app)
    # the last added runs first: metrics see every answer, the body limit's 413s included
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


DISK_FULL = ("the database's disk is full: nothing of this request was stored; writes fail "
             "until space is freed")


def disk_full(error: BaseException | None) -> bool:
    """Whether a database (or file) error says the disk is full: SQLite's SQLITE_FULL,
    PostgreSQL's disk_full (53100), ENOSPC. Retrying soon will not help: 507, not 503."""
    if isinstance(error, sqlite3.Error):
        return getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or \
            "database or disk is full" in str(error)
    if isinstance(error, OSError):
        return error.errno == errno.ENOSPC
    return getattr(error, "sqlstate", None) == "53100"


def _disk_full_answer() -> JSONResponse:
    log.error("the database's disk is full: writes are refused (507) until space is freed")
    return JSONResponse({"detail": DISK_FULL}, status_code=507)


def limit_compute_threads(n: int) -> None:
    """Cap BLAS/OpenMP and torch threads for this process (a server-wide choice)."""
    if n <= 0:
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(n)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return
    torch.set_num_threads(n)
