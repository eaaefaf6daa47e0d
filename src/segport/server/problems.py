"""One handler turns segport's errors into problem details (RFC 9457): a title, the detail, and the fix."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from segport.errors import (
    ConfigurationError,
    InvalidInput,
    NotAllowed,
    QuotaExceeded,
    ReauthorizationRequired,
    Refused,
    SegportError,
    TransientError,
    UnknownName,
    WarehouseUnavailable,
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
    (WarehouseUnavailable, 503, "The profiles' warehouse is not answering"),
    (ConfigurationError, 500, "segport is not configured for this"),
]


class NotSignedIn(SegportError):
    """No valid API token."""


class FieldProblem(BaseModel):
    field: str = Field(description="The input, as a dotted path (a body field, a query or path parameter).")
    problem: str


class Problem(BaseModel):
    """Problem details (RFC 9457), as every refusal of the API is written."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str = Field(description="What kind of problem: Not found, Invalid input, Refused, Not allowed...")
    status: int
    detail: str = Field(description="What is wrong, in words.")
    hint: str | None = Field(default=None, description="How to fix it.")
    field: str | None = Field(default=None, description="The input the problem is about, where one is.")
    fields: list[FieldProblem] | None = Field(default=None, description="Invalid input: each field's problem.")


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


UNEXPECTED = (
    "Unexpected error",
    "segport met an error it did not expect while answering this request.",
    "Try again. If it happens again, the server's log has the details (logged at the time of this request).",
)


async def unexpected(_request: Request, _exc: Exception) -> JSONResponse:
    """Any other exception: problem details without the traceback (which the server logs)."""
    title, detail, hint = UNEXPECTED
    return problem(500, title, detail, hint=hint)


def describe(app: FastAPI) -> None:
    """The OpenAPI document says what a refusal looks like: every /api operation answers 4XX and 5XX with
    problem details (application/problem+json), in place of FastAPI's own 422 shape, which segport never
    sends."""

    def document() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        made = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schemas = made.setdefault("components", {}).setdefault("schemas", {})
        described = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(described.pop("$defs", {}))
        schemas["Problem"] = described
        refusal = {"content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
        page = {"content": {"text/html": {"schema": {"type": "string"}}}}  # the sign-in's return is a page
        for path, operations in made["paths"].items():
            body = page if path == "/oauth/callback" else refusal
            for operation in operations.values():
                answers = operation["responses"]
                answers.pop("422", None)
                answers["4XX"] = {"description": "Refused: problem details say why and how to fix it.", **body}
                answers["5XX"] = {"description": "segport or Constant Contact could not do it.", **body}
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = made
        return made

    app.openapi = document  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    """The API's handlers; the web UI (segport.web.pages) wraps them to answer pages in HTML."""
    app.add_exception_handler(SegportError, segport_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, http_error)  # type: ignore[arg-type]
