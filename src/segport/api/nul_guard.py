"""Refusing a request that holds a NUL character (0x00) in its address, its query or its body.

No database segport uses keeps a NUL in text: PostgreSQL refused one in a name looked up, a segment's
description or a token's label at the statement, and the request ended in 500; SQLite stored it, so the same
input did two things on two stores. One check here covers every route, the API's and the pages', before any
reads the text: 400, saying where the NUL is and what to do.

A body is checked when it is JSON (the escape `\\u0000`, not a literal backslash before "u0000") or a form
(`%00`); it is read whole first, which RequestGuard (outside this) has already capped. Uploads (multipart) go
on untouched: the profile importer names a NUL in a file with its line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# An escape is a NUL when an odd number of backslashes stand right before "u0000": in the JSON text, \\u0000
# (an escaped backslash, then the letters) is none, \\\u0000 (an escaped backslash, then a NUL) is one.
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_FORM_NUL = b"%00"  # "%2500" is the text "%00", not a NUL: no "%00" in it


class NulGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or _FORM_NUL in scope.get("query_string", b""):
            await _refuse(send, "its address" if "\x00" in scope["path"] else "its query")
            return
        kind = _content_type(scope)
        if kind not in ("application/json", "application/x-www-form-urlencoded"):
            await self.app(scope, receive, send)
            return
        messages, body = await _read_body(receive)
        if _JSON_NUL.search(body) if kind == "application/json" else _FORM_NUL in body:
            await _refuse(send, "its body")
            return
        await self.app(scope, _replaying(iter(messages), receive), send)


def _content_type(scope: Scope) -> str:
    for key, value in scope["headers"]:
        if key.lower() == b"content-type":
            return str(value.decode("latin-1").split(";")[0].strip().lower())
    return ""


async def _read_body(receive: Receive) -> tuple[list[Message], bytes]:
    """Every message of the body (to give the app again) and the body; a disconnect (a client gone, or
    RequestGuard's cap) ends it early and is given to the app as it came."""
    messages: list[Message] = []
    body = bytearray()
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    return messages, bytes(body)


def _replaying(messages: Iterator[Message], receive: Receive) -> Receive:
    async def replayed() -> Message:
        return next(messages, None) or await receive()

    return replayed


async def _refuse(send: Send, where: str) -> None:
    title = f"The request holds a NUL character (0x00) in {where}."
    hint = "segport keeps no NUL in any text (no database does): remove it and send the request again."
    body = orjson.dumps({"type": "about:blank", "title": title, "status": 400, "detail": title, "hint": hint})
    headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 400, "headers": headers})
    await send({"type": "http.response.body", "body": body})
