"""One handler turns segport's errors into problem details (RFC 9457): a title, the detail, and the fix."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from segport.errors import (
    ConfigurationError,
    InvalidInput,
    QuotaExceeded,
    ReauthorizationRequired,
    Refused,
    SegportError,
    TransientError,
    UnknownName,
)

MEDIA_TYPE = "application/problem+json"

# (status, title) by error class, most specific first.
STATUSES: list[tuple[type[SegportError], int, str]] = [
    (UnknownName, 404, "Not found"),
    (InvalidInput, 422, "Invalid input"),
    (Refused, 409, "Refused"),
    (ReauthorizationRequired, 409, "Constant Contact needs a new sign-in"),
    (QuotaExceeded, 429, "Constant Contact's daily quota is spent"),
    (TransientError, 503, "Constant Contact is not answering"),
    (ConfigurationError, 500, "segport is not configured for this"),
]


class NotAllowed(SegportError):
    """The user's role does not allow this."""


class NotSignedIn(SegportError):
    """No valid API token."""


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


async def segport_error(_request: Request, exc: SegportError) -> JSONResponse:
    if isinstance(exc, NotSignedIn):
        return problem(401, "Not signed in", exc.message, hint=exc.hint)
    if isinstance(exc, NotAllowed):
        return problem(403, "Not allowed", exc.message, hint=exc.hint)
    for kind, status, title in STATUSES:
        if isinstance(exc, kind):
            extra = {"field": exc.field} if exc.field else {}  # the input the problem is about
            return problem(status, title, exc.message, hint=exc.hint, **extra)
    return problem(502, "Constant Contact refused the request", exc.message, hint=exc.hint)


async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
    fields = [
        {"field": ".".join(str(part) for part in error["loc"] if part != "body"), "problem": error["msg"]}
        for error in exc.errors()
    ]
    names = ", ".join(item["field"] for item in fields)
    return problem(422, "Invalid input", f"Check these fields: {names}.", fields=fields)


async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
    return problem(exc.status_code, str(exc.detail), str(exc.detail))


def install(app: FastAPI) -> None:
    """The API's handlers; the web UI (segport.web.pages) wraps them to answer pages in HTML."""
    app.add_exception_handler(SegportError, segport_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, http_error)  # type: ignore[arg-type]
