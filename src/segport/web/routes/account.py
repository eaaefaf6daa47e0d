"""Signing in and out of the web UI."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from segport.errors import Refused
from segport.users.sessions import sign_in, sign_out
from segport.web.pages import error_page, render
from segport.web.session import COOKIE, Post, SettingsDep, StoreDep, browser_session

router = APIRouter(include_in_schema=False)


def _safe_next(target: str) -> str:
    """Only a path on this site (no scheme, no host, not protocol-relative): no open redirect."""
    parts = urlsplit(target)
    if not target.startswith("/") or target.startswith("//") or parts.scheme or parts.netloc or "\\" in target:
        return "/exports"
    return target


@router.get("/")
def home(request: Request) -> Response:
    return RedirectResponse("/exports" if browser_session(request) else "/sign-in", status_code=303)


@router.get("/sign-in")
def sign_in_page(request: Request, next: str = "/exports") -> Response:
    if browser_session(request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    expired = bool(request.cookies.get(COOKIE))
    return render(request, "sign_in.html", None, next=_safe_next(next), name="", failed=False, expired=expired)


@router.post("/sign-in")
async def sign_in_submit(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    name: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/exports",
) -> Response:
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.url.netloc:
        return error_page(request, 403, "Not allowed", "Sign-in forms are accepted only from segport's own pages.")
    # Hashing takes ~50-90 ms of CPU: off the event loop.
    try:
        found = await run_in_threadpool(lambda: sign_in(store, settings, name=name, password=password))
    except Refused as refused:
        return render(
            request,
            "sign_in.html",
            None,
            status_code=429,
            next=_safe_next(next),
            name=name,
            failed=False,
            error=refused,
        )
    if found is None:
        page = render(request, "sign_in.html", None, status_code=401, next=_safe_next(next), name=name, failed=True)
        return page
    _session, cookie = found
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=int(settings.session_max_hours * 3600),
        httponly=True,
        samesite="lax",  # lax, not strict: the browser must bring it back from Constant Contact's sign-in page
        secure=settings.api_public_url.startswith("https://"),
        path="/",
    )
    return response


@router.post("/sign-out")
def sign_out_submit(posted: Post, store: StoreDep) -> Response:
    sign_out(store, posted.session)
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
