"""API keys in ``X-API-Key`` with two roles: read, and admin (which may also read).

With no key configured the API is open, and ``driftrec serve`` then binds to localhost only.
Keys are compared in constant time.
"""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request, Security
from fastapi.security import APIKeyHeader

HEADER = "X-API-Key"
_scheme = APIKeyHeader(name=HEADER, auto_error=False,
                       description="read key for reads, admin key for writes")


def _matches(key: str, keys: list[str]) -> bool:
    return any(hmac.compare_digest(key.encode(), k.encode()) for k in keys)


def _role(request: Request, key: str | None) -> str:
    settings = request.app.state.core.settings
    if not settings.auth_enabled:
        return "admin"
    if not key:
        raise HTTPException(401, f"missing API key: send it in the {HEADER} header",
                            headers={"WWW-Authenticate": HEADER})
    if _matches(key, settings.api_keys_admin):
        return "admin"
    if _matches(key, settings.api_keys_read):
        return "read"
    raise HTTPException(401, "unknown API key", headers={"WWW-Authenticate": HEADER})


# The checks are ``async``: they only compare strings, and an async dependency runs on the
# event loop instead of costing every request a hop to the thread pool and back.
async def require_read(request: Request, key: str | None = Security(_scheme)) -> str:
    return _role(request, key)


async def require_admin(request: Request, key: str | None = Security(_scheme)) -> str:
    role = _role(request, key)
    if role != "admin":
        raise HTTPException(403, "this operation needs an admin API key")
    return role
