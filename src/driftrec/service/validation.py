"""Input rules every field of the API shares, and error bodies that name the field.

* **No NUL characters** in any string (ids, texts, attribute keys and values): PostgreSQL
  cannot store them, and no id or text needs one. The OpenAPI schema says so with the
  pattern :data:`NUL_FREE`; a request breaking it gets 422 naming the field.
* **Item attributes** are JSON values nested at most :data:`MAX_ATTRIBUTE_DEPTH` levels,
  with integers in the signed 64-bit range and finite numbers.
* **A body that is not JSON in UTF-8** (or nests deeper than the JSON parser goes) gets 422
  naming ``body``, like any other malformed JSON.

Every 4xx for bad input has the same body: ``{"detail": [{"loc", "msg", "type"}],
"message": "loc: msg"}`` (see :func:`error_body`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Union

from fastapi import HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, PlainValidator, StringConstraints
from starlette.exceptions import HTTPException as StarletteHTTPException
from typing_extensions import TypeAliasType

#: JSON-schema pattern of a string without NUL characters.
NUL_FREE = r"^[^\x00]*$"
NUL_MESSAGE = "must not contain NUL characters (\\u0000)"
#: Deepest nesting of an item's attributes (``{"a": {"b": [1]}}`` is 3 levels).
MAX_ATTRIBUTE_DEPTH = 16
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


#: A string without NUL characters (and, as every API string, valid Unicode: no lone
#: surrogates); length limits go on the field. Pydantic checks the pattern; the error's
#: message is made readable by :func:`field_errors`.
CleanStr = Annotated[str, StringConstraints(pattern=NUL_FREE)]


def _text_problem(value: str) -> str | None:
    if "\x00" in value:
        return NUL_MESSAGE
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode (no lone surrogates)"
    return None

# What attributes may hold, for the OpenAPI schema (the validator below enforces it, and
# the depth the schema cannot express).
AttributeValue = TypeAliasType(  # type: ignore[misc]
    "AttributeValue",
    Union[  # noqa: UP007 - a recursive alias needs the Union form
        bool,
        Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)],
        float, CleanStr, list["AttributeValue"], dict[CleanStr, "AttributeValue"], None],
)


def _check_value(value: Any, path: list[str], depth: int) -> None:
    where = ".".join(path)
    if depth > MAX_ATTRIBUTE_DEPTH:
        raise ValueError(f"{where}: nested deeper than {MAX_ATTRIBUTE_DEPTH} levels")
    if isinstance(value, dict):
        for key, inner in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where}: keys must be strings")
            problem = _text_problem(key)
            if problem:
                raise ValueError(f"{where}: a key {problem}")
            _check_value(inner, [*path, key], depth + 1)
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            _check_value(inner, [*path, str(i)], depth + 1)
    elif isinstance(value, str):
        problem = _text_problem(value)
        if problem:
            raise ValueError(f"{where}: {problem}")
    elif isinstance(value, bool) or value is None:
        pass
    elif isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise ValueError(f"{where}: integers must fit in 64 bits (use a string)")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where}: numbers must be finite")
    else:
        raise ValueError(f"{where}: not a JSON value")


def check_attributes(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("attributes must be an object")
    _check_value(value, ["attributes"], 1)
    return value


#: Item attributes: an object of JSON values, checked by :func:`check_attributes`.
Attributes = Annotated[dict[str, Any], PlainValidator(
    check_attributes, json_schema_input_type=dict[CleanStr, AttributeValue])]


# -- error bodies ---------------------------------------------------------------------
def error_body(errors: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``{"detail": [...], "message": "loc: msg; ..."}`` from errors with loc/msg/type."""
    detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "invalid"),
               "type": e.get("type", "invalid")} for e in errors]
    parts = [f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in detail[:5]]
    return {"detail": detail, "message": "; ".join(parts)}


def field_errors(errors: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validation errors without the offending input (it may be large, or personal)."""
    out = []
    for e in errors:
        msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        if e.get("type") == "string_pattern_mismatch" and \
                (e.get("ctx") or {}).get("pattern") == NUL_FREE:
            msg = NUL_MESSAGE
        out.append({"loc": e.get("loc", ()), "msg": msg, "type": e.get("type", "invalid")})
    return out


_BODY_PARSE_ERRORS = {
    UnicodeDecodeError: "the body is not valid UTF-8",
    RecursionError: "the JSON body is nested too deeply",
}


async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """FastAPI answers a body it cannot parse with a bare 400; name the body instead."""
    if isinstance(exc.detail, list):  # errors naming their fields (routes.deps.reject)
        return JSONResponse(error_body(exc.detail), status_code=exc.status_code,
                            headers=exc.headers)
    cause = exc.__cause__
    if exc.status_code == 400 and cause is not None:
        for kind, message in _BODY_PARSE_ERRORS.items():
            if isinstance(cause, kind):
                return JSONResponse(error_body([{"loc": ["body"], "msg": message,
                                                 "type": "json_invalid"}]), status_code=422)
    return await http_exception_handler(request, exc)


class FieldError(BaseModel):
    loc: list[str | int] = Field(examples=[["body", "events", 0, "timestamp"]])
    msg: str
    type: str


class ErrorOut(BaseModel):
    """The body of every error answer: ``detail`` names the offending field(s) (a list,
    for bad input) or says what went wrong (a string); ``message`` sums the list up."""

    detail: list[FieldError] | str
    message: str | None = Field(None, examples=["body.events.0.timestamp: ..."])


def _query_names(dependant: Any) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


async def no_unknown_query_parameters(request: Request) -> None:
    """An API request naming a query parameter its route does not take gets 422 naming it
    (as unknown body fields do): a misspelt ``?kk=5`` is not silently ignored."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None:
        return
    known = _query_names(dependant)
    unknown = sorted({k for k in request.query_params if k not in known})
    if unknown:
        raise HTTPException(422, detail=[{"loc": ["query", k], "msg": "unknown query parameter",
                                          "type": "extra_forbidden"} for k in unknown])
