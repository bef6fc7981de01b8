"""The error answers every operation may give, declared in the OpenAPI schema.

They follow from what a route depends on, so they are derived from its dependencies
rather than repeated on each route: an API key (401; 403 where the admin role is needed),
the database (503 with ``Retry-After``; 507 when its disk is full), input (422 naming the
field) and a request body (413 beyond the size limits). Answers only one route gives (404
for an unknown item, 409 for a reused ``event_id``) are declared with the route's own
``responses=``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from driftrec.service.auth import require_admin, require_read
from driftrec.service.routes.deps import core
from driftrec.service.validation import ErrorOut

ERROR_REF = "#/components/schemas/ErrorOut"
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying",
                               "required": True, "schema": {"type": "integer"}}}


def _calls(dependant: Any) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def _answer(description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": ERROR_REF}}}, **extra}


def error_answers(calls: set[Any], operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The error answers of one operation, from its dependencies and its inputs."""
    out: dict[str, dict[str, Any]] = {}
    if require_read in calls or require_admin in calls:
        out["401"] = _answer("missing or unknown API key (`X-API-Key`)")
    if require_admin in calls:
        out["403"] = _answer("the API key is not an admin key")
    if operation.get("parameters") or "requestBody" in operation:
        out["422"] = _answer("invalid input; `detail` names the field")
    if "requestBody" in operation:
        out["413"] = _answer("the body, or a batch in it, is over the size limits")
    if core in calls:
        out["503"] = _answer("the database is unavailable; retry after `Retry-After` seconds",
                             headers=RETRY_AFTER)
        out["507"] = _answer("the database's disk is full; nothing was stored")
    return out


def document_error_answers(app: FastAPI) -> None:
    """Make ``app.openapi()`` declare each operation's error answers (see module doc)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        defs = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(defs.pop("$defs", {}))
        components["ErrorOut"] = defs
        for route in iter_route_contexts(app.routes):
            dependant = getattr(route, "dependant", None)
            if dependant is None or not getattr(route, "include_in_schema", False):
                continue
            calls = set(_calls(dependant))
            for method in route.methods or ():
                operation = schema["paths"].get(route.path_format, {}).get(method.lower())
                if operation is None:
                    continue
                for status, answer in error_answers(calls, operation).items():
                    operation["responses"].setdefault(status, answer)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
