"""Framework-free request and response values, so the same emulator serves an httpx transport and ASGI."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qs

import orjson


@dataclass
class Request:
    method: str
    path: str
    query_string: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(self.query_string, keep_blank_values=True)

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def form(self) -> dict[str, str]:
        """Parameters from an urlencoded body and the query string (Constant Contact accepts both)."""
        merged = {key: values[0] for key, values in self.query.items()}
        if self.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            parsed = parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
            merged.update({key: values[0] for key, values in parsed.items()})
        return merged


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # How the connection ends: "" (normally), "drop" (before any answer), "timeout" (no answer in time).
    transport_fault: str = ""


def json_response(status: int, payload: object, headers: dict[str, str] | None = None) -> Response:
    return Response(status, orjson.dumps(payload), {"content-type": "application/json", **(headers or {})})


def api_error(status: int, error_key: str, message: str) -> Response:
    """Constant Contact's usual error body: an array of {error_key, error_message} (APIErrorSchema)."""
    return json_response(status, [{"error_key": error_key, "error_message": message}])


def single_error(status: int, error_key: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """The single-object shape of 401s and 429s (AuthorizationErrorSchema and the rate-limit page)."""
    return json_response(status, {"error_key": error_key, "error_message": message}, headers)


def html_response(status: int, html: str) -> Response:
    return Response(status, html.encode("utf-8"), {"content-type": "text/html; charset=utf-8"})


def redirect(location: str) -> Response:
    return Response(302, b"", {"location": location})
