"""Refusing a request whose text no database keeps: a NUL character (0x00) in its address, query or body, or a
lone surrogate (a JSON escape such as `\\ud800` that is half of a character) in its JSON body.

PostgreSQL refused a NUL in a name looked up, a segment's description or a token's label at the statement, and
the request ended in 500; SQLite stored it, so the same input did two things on two stores. A lone surrogate
cannot be written as UTF-8 at all: both stores failed on it, and so did the password hash. One check here
covers every route, the API's and the pages', before any reads the text: 400, saying what and where.

A body is checked when it is JSON or a form (`%00`; a form's bytes that are not UTF-8 are decoded with
replacement characters, never as surrogates); it is read whole first, which RequestGuard (outside this) has
already capped (SEGPORT_REQUEST_MAX_BYTES). Uploads go on untouched, whatever they claim to be: the profile
importer names a NUL's line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from segport.api.guard import UPLOADS, send_problem
from segport.limits import is_storable_text

# What may be a NUL or half of a character in a JSON body: then the body is parsed (as FastAPI parses it) and
# its texts looked at, so a typed backslash before "u0000", or a whole emoji written as two escapes, passes.
_SUSPECT = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
NUL = "a NUL character (0x00)"
SURROGATE = "half of a character (a lone surrogate escape such as \\ud800)"
_FORM_NUL = b"%00"  # "%2500" is the text "%00", not a NUL: no "%00" in it


class TextGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"]:
            await _refuse(send, NUL, "its address")
            return
        if _FORM_NUL in scope.get("query_string", b""):
            await _refuse(send, NUL, "its query")
            return
        kind = _content_type(scope)
        # An upload's route may take gigabytes (SEGPORT_UPLOAD_MAX_BYTES): its body is never held here whole.
        if kind not in ("application/json", "application/x-www-form-urlencoded") or scope["path"] in UPLOADS:
            await self.app(scope, receive, send)
            return
        messages, body = await _read_body(receive)
        found = _unstorable_json(body) if kind == "application/json" else NUL if _FORM_NUL in body else None
        if found is not None:
            await _refuse(send, found, "its body")
            return
        await self.app(scope, _replaying(iter(messages), receive), send)


def _unstorable_json(body: bytes) -> str | None:
    """What no database keeps in the body's texts (keys too), if anything; None as well for a body that is not
    JSON, which FastAPI refuses itself."""
    if not _SUSPECT.search(body):
        return None
    try:
        waiting = [json.loads(body)]
    except (ValueError, RecursionError):
        return None
    while waiting:
        value = waiting.pop()
        if isinstance(value, dict):
            waiting.extend(value.keys())
            waiting.extend(value.values())
        elif isinstance(value, list):
            waiting.extend(value)
        elif isinstance(value, str):
            if "\x00" in value:
                return NUL
            if not value.isascii() and not is_storable_text(value):
                return SURROGATE
    return None


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


async def _refuse(send: Send, what: str, where: str) -> None:
    hint = "segport keeps no such text (no database does): remove it and send the request again."
    await send_problem(send, 400, f"The request holds {what} in {where}.", hint)
