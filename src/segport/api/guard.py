"""Before a request body is read: who is calling, and how big the body may be.

FastAPI reads a body (JSON, a form, an upload) before it runs a route's dependencies, so an anonymous caller
could make the server read and spool hundreds of megabytes before the 401. This ASGI middleware comes first:

- a request with a body to an /api route needs a valid API token, and one to a page (a form) a live session
  (the sign-in form aside): otherwise 401 (or, for a page, the way to the sign-in page), without reading it;
- every body has a cap (SEGPORT_REQUEST_MAX_BYTES; uploads of profiles SEGPORT_UPLOAD_MAX_BYTES): a declared
  length over it is refused at once, and a body that goes past it while streaming is cut off with 413.

What it finds (the API user, the browser session) is kept on the request for the routes' own checks.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from segport.config import Settings
from segport.store import Store
from segport.users.service import authenticate
from segport.users.sessions import find_session

UPLOADS = ("/api/profiles", "/profiles")
# Forms that may be posted without a session.
PUBLIC = ("/sign-in",)
COOKIE = "segport_session"


class RequestGuard:
    def __init__(self, app: ASGIApp, settings: Settings, store: Store) -> None:
        self.app = app
        self.settings = settings
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        limit = self.settings.upload_max_bytes if path in UPLOADS else self.settings.request_max_bytes
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await send_problem(send, 413, "The request body is too large.", f"The limit here is {limit:,} bytes.")
            return
        if path not in PUBLIC and not await run_in_threadpool(self._identify, scope, path, headers):
            if path.startswith("/api/"):
                await send_problem(
                    send,
                    401,
                    "This needs an API token.",
                    "Send Authorization: Bearer <token> (segport users token).",
                    {"www-authenticate": "Bearer"},
                )
            else:
                await _redirect(send, "/sign-in?next=%2F")
            return
        await self._capped(scope, receive, send, limit)

    def _identify(self, scope: Scope, path: str, headers: dict[str, str]) -> bool:
        state = scope.setdefault("state", {})
        if path.startswith("/api/"):
            scheme, _, token = headers.get("authorization", "").partition(" ")
            user = authenticate(self.store, token.strip()) if scheme.lower() == "bearer" and token.strip() else None
            state["api_user"] = user
            return user is not None
        cookie = _cookie(headers.get("cookie", ""), COOKIE)
        session = find_session(self.store, self.settings, cookie) if cookie else None
        state["web_session"] = session
        return session is not None

    async def _capped(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        read = 0
        over = False
        answered = False

        async def counted() -> Message:
            nonlocal read, over
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > limit:
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            nonlocal answered
            if over:
                return  # the app's answer to a body it did not get whole is replaced by the 413 below
            answered = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not over:
                raise
        if over and not answered:
            await send_problem(send, 413, "The request body is too large.", f"The limit here is {limit:,} bytes.")


def _cookie(header: str, name: str) -> str:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""


async def send_problem(send: Send, status: int, title: str, hint: str, extra: dict[str, str] | None = None) -> None:
    body = orjson.dumps({"type": "about:blank", "title": title, "status": status, "detail": title, "hint": hint})
    headers: list[Any] = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
    ]
    headers += [(key.encode(), value.encode()) for key, value in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _redirect(send: Send, location: str) -> None:
    await send({"type": "http.response.start", "status": 303, "headers": [(b"location", location.encode())]})
    await send({"type": "http.response.body", "body": b""})
