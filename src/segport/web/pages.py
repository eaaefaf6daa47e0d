"""Rendering pages (Jinja2, escaped by default), the security headers, and errors shown as pages."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, Template, select_autoescape
from markupsafe import Markup
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from segport.clock import as_utc
from segport.errors import NotAllowed, SegportError
from segport.exports.mirror import needs_mass_removal_approval
from segport.server import problems
from segport.server.problems import NotSignedIn
from segport.server.state import store_of
from segport.users.sessions import Session, take_notices
from segport.web.fixes import in_the_browser
from segport.web.session import FormExpired, SignInRequired, browser_session, sign_in_link

HERE = Path(__file__).parent
environment = Environment(
    loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True), trim_blocks=True
)
environment.globals["in_the_browser"] = in_the_browser
environment.globals["needs_mass_removal_approval"] = needs_mass_removal_approval


def when(moment: datetime | None) -> Markup:
    """A moment as UTC text, which the page's script rewrites in the viewer's own time zone."""
    if moment is None:
        return Markup("—")
    text = as_utc(moment).astimezone(UTC).isoformat()  # 2026-01-02T03:04:05+00:00
    # Digits and separators only, so nothing to escape (Markup.format, which escapes, was a fifth of the runs
    # page's rendering: the page shows 50 of these); the shown time is cut from the same text, as strftime
    # took twice as long as isoformat.
    return Markup(f'<time datetime="{text}">{text[:10]} {text[11:16]} UTC</time>')  # noqa: S704


def seconds(value: float | None) -> str:
    """A duration, once: a template that tests a property and then formats it computes it twice."""
    return "—" if value is None else f"{value:.1f} s"


def number(value: int | float | None) -> str:
    return "—" if value is None else f"{value:,}"


def part(value: str) -> str:
    """A name as one path segment (slashes and all escaped)."""
    return quote(str(value), safe="")


# Jinja keeps each template once compiled, but every thread that asks for one not compiled yet compiles it:
# twenty requests for the same page just after a start made twenty compilations. One at a time, and the
# cached answer costs a file-date check under the lock.
_loading = threading.Lock()


def template_named(name: str) -> Template:
    with _loading:
        return environment.get_template(name)


environment.filters["when"] = when
environment.filters["number"] = number
environment.filters["seconds"] = seconds
environment.filters["part"] = part


def render(
    request: Request, template: str, session: Session | None, *, status_code: int = 200, **values: Any
) -> HTMLResponse:
    # Notices left by an earlier request (before a redirect), then those of this one.
    notices = (take_notices(store_of(request), session) if session is not None else []) + values.pop("notices", [])
    page = template_named(template).render(
        request=request,
        session=session,
        user=session.user if session else None,
        csrf_token=session.csrf_token if session else "",
        notices=notices,
        path=request.url.path,
        **values,
    )
    return HTMLResponse(page, status_code=status_code)


def error_page(request: Request, status: int, title: str, message: str, hint: str | None = None) -> HTMLResponse:
    session = browser_session(request)
    return render(request, "error.html", session, status_code=status, title=title, message=message, hint=hint)


def _is_page(request: Request) -> bool:
    """Pages answer in HTML; the API (and its documents) in problem details."""
    return _is_page_path(request.url.path)


def _is_page_path(path: str) -> bool:
    return not (path.startswith("/api/") or path in ("/openapi.json", "/metrics", "/healthz", "/readyz"))


def security_headers(settings_auth_base: str) -> dict[str, str]:
    """No script, style or image from anywhere but segport; forms may go on only to Constant Contact's sign-in."""
    parts = urlsplit(settings_auth_base)
    sign_in_origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""
    return {
        "Content-Security-Policy": (
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            f"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self' {sign_in_origin}"
        ).strip(),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
    }


def install(app: FastAPI) -> None:
    """Static files, the pages' error handling (the API's handlers stay for /api), and the headers."""
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.exception_handler(SignInRequired)
    async def sign_in_required(_request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(sign_in_link(exc.back_to), status_code=303)

    @app.exception_handler(FormExpired)
    async def form_expired(request: Request, _exc: FormExpired) -> Response:
        return error_page(
            request,
            403,
            "This form has expired",
            "The form was not sent from this session (it may be from an older tab, or from another site).",
            "Go back, reload the page and send it again.",
        )

    @app.exception_handler(SegportError)
    async def segport_error(request: Request, exc: SegportError) -> Response:
        if not _is_page(request):
            response: Response = await problems.segport_error(request, exc)
            return response
        if isinstance(exc, NotSignedIn):
            return RedirectResponse(sign_in_link(request.url.path), status_code=303)
        status, title = 403, "Not allowed"
        if not isinstance(exc, NotAllowed):  # the API's status for the same error, so both speak alike
            status, title = next(
                ((code, name) for kind, code, name in problems.STATUSES if isinstance(exc, kind)),
                (502, "Constant Contact refused the request"),
            )
        return error_page(request, status, title, exc.message, exc.hint)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        if not _is_page(request):
            response: Response = await problems.invalid_request(request, exc)
            return response
        # Each field with its problem, as the API's problem details give them ("run_id: Input should be...").
        problems_found = "; ".join(
            ".".join(str(part) for part in error["loc"] if part not in ("body", "query", "path")) + f": {error['msg']}"
            for error in exc.errors()
        )
        return error_page(request, 422, "Invalid request", f"Check {problems_found}.", "Go back and correct it.")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if not _is_page(request):
            response: Response = await problems.http_error(request, exc)
            return response
        message = "There is no such page." if exc.status_code == 404 else str(exc.detail)
        return error_page(request, exc.status_code, str(exc.detail), message, "Use the menu to find your way.")

    headers = security_headers(str(app.state.settings.cc_auth_base))
    docs_headers = {
        **headers,
        "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'",
    }

    app.add_middleware(SecurityHeaders, pages=headers, docs=docs_headers)

    # Starlette answers any other exception from its outermost layer, outside SecurityHeaders, so this handler
    # adds the headers itself. The page reads no session: the store may be what failed.
    async def unexpected(request: Request, exc: Exception) -> Response:
        response: Response
        if _is_page(request):
            title, detail, hint = problems.UNEXPECTED
            response = render(request, "error.html", None, status_code=500, title=title, message=detail, hint=hint)
        else:
            response = await problems.unexpected(request, exc)
        _secure(response.headers, _headers_for(request.url.path, headers, docs_headers))
        return response

    app.add_exception_handler(Exception, unexpected)


def _headers_for(path: str, pages: dict[str, str], docs: dict[str, str]) -> dict[str, str]:
    """The policy headers of an answer at `path`: the documents' (Swagger UI starts itself with an inline
    script), the pages', or none (the API; nosniff goes on every answer)."""
    if path.startswith("/docs") or path == "/openapi.json":
        return docs
    return pages if _is_page_path(path) else {}


def _secure(headers: MutableHeaders, policy: dict[str, str]) -> None:
    headers.update(policy)
    headers.setdefault("X-Content-Type-Options", "nosniff")


class SecurityHeaders:
    """The security headers on every answer (see _headers_for), and nosniff on all.

    Plain ASGI, adding them to the answer's first message: Starlette's `@app.middleware("http")` would run
    every request in a task of its own and pass the body through a stream, which cost the API's small answers
    more than their own work under load (bench/api_load.py)."""

    def __init__(self, app: ASGIApp, pages: dict[str, str], docs: dict[str, str]) -> None:
        self.app = app
        self.pages = pages
        self.docs = docs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chosen = _headers_for(scope["path"], self.pages, self.docs)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                _secure(MutableHeaders(scope=message), chosen)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def json_error(message: str, hint: str | None = None, status: int = 400) -> JSONResponse:
    """For the pages' own small JSON reads (estimates, progress): the same message a page would show."""
    return JSONResponse({"error": message, "hint": hint}, status_code=status)
