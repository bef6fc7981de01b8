"""Dashboard pages: segments overview, and one user's profile, drift and recommendations.

Pages need a read or admin key like the API; browsers send it as a cookie set by the
small login form (``HttpOnly``, ``SameSite=Strict``), scripts may send ``X-API-Key``.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from driftrec.recommend.profile import build_profile, interest_history
from driftrec.service.auth import HEADER, _role
from driftrec.service.core import ServiceCore
from driftrec.service.routes.deps import core
from driftrec.web.charts import line_chart

COOKIE = "driftrec_api_key"
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
router = APIRouter(prefix="/dashboard", include_in_schema=False)


def _viewer(request: Request) -> str | None:
    key = request.headers.get(HEADER) or request.cookies.get(COOKIE)
    try:
        return _role(request, key)
    except HTTPException:
        return None


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, error: str = "") -> Response:
    return templates.TemplateResponse(request, "login.html", {"error": error})


@router.post("/login")
async def login(request: Request) -> Response:
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    api_key = (form.get("api_key") or [""])[0][:512]
    try:
        _role(request, api_key)
    except HTTPException:
        return RedirectResponse("/dashboard/login?error=unknown+key", status_code=303)
    response = RedirectResponse("/dashboard", status_code=303)
    response.set_cookie(COOKIE, api_key, httponly=True, samesite="strict")
    return response


@router.get("", response_class=HTMLResponse)
def index(request: Request, user_id: str | None = None,
          c: ServiceCore = Depends(core)) -> Response:
    if _viewer(request) is None:
        return RedirectResponse("/dashboard/login", status_code=303)
    if user_id:
        return RedirectResponse(f"/dashboard/users/{quote(user_id[:256], safe='')}",
                                status_code=303)
    segs = c.segments.get()
    return templates.TemplateResponse(request, "index.html", {
        "segments": segs.overview(c.catalogue) if segs else [],
        "model_version": c.model_version, "n_items": len(c.catalogue),
        "n_events": c.store.count_events()})


@router.get("/users/{user_id}", response_class=HTMLResponse)
def user_page(request: Request, user_id: str, c: ServiceCore = Depends(core)) -> Response:
    if _viewer(request) is None:
        return RedirectResponse("/dashboard/login", status_code=303)
    user_id = user_id[:256]
    key = c.store.user_key(user_id)
    ctx = c.engine.user_context(key)
    segs, seg_id = c.engine.segment_of(ctx)
    profile = build_profile(ctx.state, ctx.n_events, c.catalogue,
                            segs.describe(seg_id) if segs else None)
    points = interest_history(c.store.user_events(key, limit=300), key, c.catalogue,
                              c.projection)
    recs = c.engine.recommend(key, 10, exclude_seen=True, diversity=0.3, explain=True)
    return templates.TemplateResponse(request, "user.html", {
        "user_id": user_id, "profile": profile, "recs": recs,
        "drift": line_chart([p["drift"] for p in points]), "points": points[-15:][::-1],
        "model_version": c.model_version})
