"""Shared request dependencies: the process core (refreshed) and settings-based limits."""

from __future__ import annotations

from fastapi import HTTPException, Path, Request

from driftrec.service.core import ServiceCore
from driftrec.service.schemas import MAX_ID
from driftrec.service.validation import NUL_FREE

UserId = Path(min_length=1, max_length=MAX_ID, pattern=NUL_FREE,
              description="the caller's user id", examples=["u1"])
ItemId = Path(min_length=1, max_length=MAX_ID, pattern=NUL_FREE, examples=["i9"])


async def core(request: Request) -> ServiceCore:
    """The process core, after pulling changes other processes made (on the event loop:
    one indexed read, cheaper than a hop to the thread pool)."""
    c: ServiceCore = request.app.state.core
    c.refresh()
    return c


async def process_core(request: Request) -> ServiceCore:
    """The process core as it is: for a handler that refreshes it itself, together with
    what it reads first (:meth:`ServiceCore.refresh_for`)."""
    return request.app.state.core


def reject(field: str, message: str, status: int = 422) -> HTTPException:
    """A 4xx whose body names the offending field."""
    return HTTPException(status, detail=[{"loc": field.split("."), "msg": message,
                                          "type": "limit"}])


def check_id(c: ServiceCore, field: str, value: str | None) -> None:
    if value is not None and len(value) > c.settings.max_id_length:
        raise reject(field, f"at most {c.settings.max_id_length} characters")


def check_text(c: ServiceCore, field: str, value: str | None) -> None:
    if value is not None and len(value) > c.settings.max_text_length:
        raise reject(field, f"at most {c.settings.max_text_length} characters")


def check_k(c: ServiceCore, k: int) -> None:
    if k > c.settings.max_k:
        raise reject("query.k", f"k must be at most {c.settings.max_k}")
