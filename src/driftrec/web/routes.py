"""Dashboard pages: overview, users, segments, items and search, with Plotly charts.

Pages need a read or admin key like the API; browsers send it as a cookie set by the
small login form (``HttpOnly``, ``SameSite=Strict``), scripts may send ``X-API-Key``.
Admins may act as a user: the form posts to ``/dashboard/users/{user_id}/events``, which
sends a real ``POST /v1/events`` through the application itself with the admin's key, so
the event takes exactly the API's path (validation, auth, metrics, ingest).
Every page is server-rendered with Jinja2 autoescaping; the only scripts are
``plotly.min.js`` (served from the installed ``plotly`` package) and ``dashboard.js``.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from driftrec.service.auth import HEADER, _role
from driftrec.service.core import ServiceCore
from driftrec.service.routes.deps import core
from driftrec.web import charts
from driftrec.web.views import Views, display_title, user_url

COOKIE = "driftrec_api_key"
STATIC = Path(__file__).parent / "static"
#: What "act as this user" may post, and the event type each button sends.
ACTIONS = ("view", "like", "skip", "search")
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.globals["plotly_version"] = charts.plotly_version()
router = APIRouter(prefix="/dashboard", include_in_schema=False)
threading.Thread(target=charts.warm_up, name="dashboard-warm-up", daemon=True).start()


def _key(request: Request) -> str | None:
    return request.headers.get(HEADER) or request.cookies.get(COOKIE)


def _viewer(request: Request) -> str | None:
    try:
        return _role(request, _key(request))
    except HTTPException:
        return None


def _views(request: Request) -> Views:
    views = getattr(request.app.state, "dashboard_views", None)
    if views is None:
        views = request.app.state.dashboard_views = Views()
        threading.Thread(target=views.warm, args=(request.app.state.core,),
                         name="dashboard-warm-up", daemon=True).start()
    return views


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200,
          role: str | None = None) -> Response:
    response = templates.TemplateResponse(request, name, {"role": role, **context},
                                          status_code=status)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


def _login_redirect() -> Response:
    return RedirectResponse("/dashboard/login", status_code=303)


# -- static files and login --------------------------------------------------------------------
@router.get("/static/plotly.min.js")
def plotly_js() -> Response:
    """plotly.js as the installed Python package ships it (nothing comes from a CDN)."""
    return FileResponse(charts.plotly_js_path(), media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=604800"})


@router.get("/static/{name}")
def static_file(name: str) -> Response:
    path = STATIC / name
    if name not in {"dashboard.js", "dashboard.css"} or not path.is_file():
        raise HTTPException(404, "no such file")
    media = "text/javascript" if name.endswith(".js") else "text/css"
    return FileResponse(path, media_type=media, headers={"Cache-Control": "public, max-age=300"})


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, error: str = "") -> Response:
    return _page(request, "login.html", {"error": error[:100]})


@router.post("/login")
async def login(request: Request) -> Response:
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    api_key = (form.get("api_key") or [""])[0][:512]
    try:
        _role(request, api_key)
    except HTTPException:
        return RedirectResponse("/dashboard/login?error=unknown+key", status_code=303)
    response = RedirectResponse("/dashboard", status_code=303)
    response.set_cookie(COOKIE, api_key, httponly=True, samesite="strict", path="/dashboard")
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/dashboard/login", status_code=303)
    response.delete_cookie(COOKIE, path="/dashboard")
    return response


# -- pages ---------------------------------------------------------------------------------------
@router.get("", response_class=HTMLResponse)
def overview(request: Request, user_id: str | None = None,
             c: ServiceCore = Depends(core)) -> Response:
    role = _viewer(request)
    if role is None:
        return _login_redirect()
    if user_id:
        return RedirectResponse(user_url(user_id[:256]), status_code=303)
    data = _views(request).overview(c, getattr(request.app.state, "metrics", None))
    return _page(request, "overview.html", data, role=role)


@router.get("/users/{user_id}", response_class=HTMLResponse)
def user_page(request: Request, user_id: str, diversity: float = 0.0, acted: str = "",
              item: str = "", error: str = "", c: ServiceCore = Depends(core)) -> Response:
    role = _viewer(request)
    if role is None:
        return _login_redirect()
    user_id = user_id[:256]
    diversity = min(max(diversity, 0.0), 1.0) if diversity == diversity else 0.0
    data = _views(request).user(c, user_id, diversity)
    context = {"user_id": user_id, "diversity": round(diversity, 2),
               "model_version": c.model_version, "error": error[:300],
               "acted": _acted_message(c, acted, item),
               "act_url": user_url(user_id) + "/events"}
    if data is None:
        return _page(request, "user_unknown.html", context, status=404, role=role)
    return _page(request, "user.html", {**context, **data}, role=role)


@router.get("/segments", response_class=HTMLResponse)
def segments_page(request: Request, c: ServiceCore = Depends(core)) -> Response:
    role = _viewer(request)
    if role is None:
        return _login_redirect()
    return _page(request, "segments.html", {"data": _views(request).segments(c)}, role=role)


@router.get("/items/{item_id}", response_class=HTMLResponse)
def item_page(request: Request, item_id: str, c: ServiceCore = Depends(core)) -> Response:
    role = _viewer(request)
    if role is None:
        return _login_redirect()
    data = _views(request).item(c, item_id[:256])
    if data is None:
        return _page(request, "item_unknown.html", {"item_id": item_id[:256]}, status=404,
                     role=role)
    return _page(request, "item.html", data, role=role)


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request, q: str = "", c: ServiceCore = Depends(core)) -> Response:
    role = _viewer(request)
    if role is None:
        return _login_redirect()
    data = _views(request).search(c, q[:500])
    return _page(request, "search.html", data, role=role)


# -- acting as a user (admins) ---------------------------------------------------------------------
def _acted_message(c: ServiceCore, acted: str, item: str) -> str:
    if acted not in ACTIONS:
        return ""
    if acted == "search":
        return "Recorded a search."
    title = display_title(c.catalogue, item) or "the item"
    return f"Recorded {acted} on {title}."


def _same_origin(request: Request) -> bool:
    """A browser's POST carries ``Origin`` (or ``Referer``): it must be this site."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")


@router.post("/users/{user_id}/events")
async def act_as_user(request: Request, user_id: str) -> Response:
    """Post one event for ``user_id`` through ``POST /v1/events`` with the admin's key."""
    role = _viewer(request)
    if role is None:
        return _login_redirect()
    if role != "admin" or not _same_origin(request):
        raise HTTPException(403, "acting as a user needs an admin key, from this site")
    form = parse_qs((await request.body()).decode("utf-8", "replace"))

    def field(name: str) -> str:
        return (form.get(name) or [""])[0]

    action, item_id, text = field("event_type"), field("item_id"), field("text").strip()
    diversity = field("diversity")
    if action not in ACTIONS:
        raise HTTPException(422, f"event_type must be one of {', '.join(ACTIONS)}")
    event: dict[str, Any] = {"user_id": user_id, "event_type": action}
    if action == "search":
        if not text:
            return _back(user_id, diversity, error="type something to search for")
        event.update(item_id="search", text=text)
    else:
        event["item_id"] = item_id
    status, body = await _post_events(request, {"events": [event]})
    if status != 200:
        return _back(user_id, diversity, error=_error_text(status, body))
    return _back(user_id, diversity, acted=action, item=item_id)


def _back(user_id: str, diversity: str, **params: str) -> Response:
    query = {k: v for k, v in {"diversity": diversity, **params}.items() if v}
    url = user_url(user_id) + ("?" + urlencode(query, quote_via=quote) if query else "")
    return RedirectResponse(url, status_code=303)


def _error_text(status: int, body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return f"the API answered {status}"
    message = data.get("message") or data.get("detail") if isinstance(data, dict) else data
    if isinstance(message, list):
        message = "; ".join(str(m.get("msg", m)) if isinstance(m, dict) else str(m)
                            for m in message)
    return f"the API answered {status}: {message}"[:300]


async def _post_events(request: Request, payload: dict[str, Any]) -> tuple[int, bytes]:
    """``POST /v1/events`` through the whole application (middleware, auth, validation),
    in process, with the caller's key; returns status and body."""
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    key = _key(request)
    if key:
        headers.append((HEADER.lower().encode(), key.encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": request.url.scheme, "path": "/v1/events",
             "raw_path": b"/v1/events", "query_string": b"", "root_path": "",
             "headers": headers, "client": request.scope.get("client"),
             "server": request.scope.get("server"), "state": {}}
    sent = False
    status, chunks = 500, []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await request.app(scope, receive, send)
    return status, b"".join(chunks)
