"""The security headers middleware, driven as ASGI: which answers get which headers, and that nothing else of
an answer changes (its status, its other headers, every chunk of a streamed body)."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from segport.web.pages import SecurityHeaders

PAGES = {"Content-Security-Policy": "default-src 'self'", "X-Frame-Options": "DENY"}
DOCS = {"Content-Security-Policy": "script-src 'self' 'unsafe-inline'", "X-Frame-Options": "DENY"}


def answered(path: str, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> list[Message]:
    """The messages SecurityHeaders sends on for an app that answers with `headers` and the body `chunks`."""

    async def app(_scope: Scope, _receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 201, "headers": list(headers)})
        for number, chunk in enumerate(chunks):
            await send({"type": "http.response.body", "body": chunk, "more_body": number < len(chunks) - 1})

    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: dict[str, Any] = {"type": "http", "path": path, "method": "GET", "headers": []}
    asyncio.run(SecurityHeaders(app, pages=PAGES, docs=DOCS)(scope, receive, send))
    return sent


def header_list(message: Message) -> list[tuple[str, str]]:
    return [(key.decode(), value.decode()) for key, value in message["headers"]]


def test_a_page_gets_the_pages_policy_and_keeps_its_own_headers_and_body() -> None:
    sent = answered("/runs", [(b"content-type", b"text/html"), (b"x-frame-options", b"SAMEORIGIN")], [b"a", b"b"])
    assert sent[0]["status"] == 201
    assert sorted(header_list(sent[0])) == sorted(
        [
            ("content-type", "text/html"),
            ("content-security-policy", "default-src 'self'"),
            ("x-frame-options", "DENY"),  # the policy wins over what the route said, once
            ("x-content-type-options", "nosniff"),
        ]
    )
    assert [(message["body"], message["more_body"]) for message in sent[1:]] == [(b"a", True), (b"b", False)]


def test_the_documents_get_their_own_policy() -> None:
    for path in ("/docs", "/docs/oauth2-redirect", "/openapi.json"):
        headers = dict(header_list(answered(path, [], [b"{}"])[0]))
        assert headers["content-security-policy"] == DOCS["Content-Security-Policy"], path


def test_the_api_gets_nosniff_only_and_a_route_own_nosniff_is_not_doubled() -> None:
    for path in ("/api/runs", "/healthz", "/metrics", "/readyz"):
        assert header_list(answered(path, [], [b"[]"])[0]) == [("x-content-type-options", "nosniff")], path
    own = answered("/api/runs", [(b"x-content-type-options", b"nosniff")], [b""])
    assert header_list(own[0]) == [("x-content-type-options", "nosniff")]


def test_other_scopes_pass_untouched() -> None:
    seen: list[str] = []

    async def app(scope: Scope, _receive: Receive, _send: Send) -> None:
        seen.append(scope["type"])

    async def nothing() -> Message:
        return {}

    async def discard(_message: Message) -> None:
        return None

    asyncio.run(SecurityHeaders(app, pages=PAGES, docs=DOCS)({"type": "lifespan"}, nothing, discard))
    assert seen == ["lifespan"]
