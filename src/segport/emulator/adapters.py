"""Serving one `Emulator` two ways: as an httpx transport (in process) and as an ASGI app (on a port)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx

from segport.emulator.core import Emulator
from segport.emulator.messages import Request

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class EmulatorTransport(httpx.BaseTransport):
    """An httpx transport that hands each request to the emulator in this process (no sockets)."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        answer = self.emulator.handle(
            Request(
                method=request.method,
                path=request.url.path,
                query_string=request.url.query.decode("ascii"),
                headers={key.lower(): value for key, value in request.headers.items()},
                body=body,
            )
        )
        if answer.transport_fault == "drop":
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)
        if answer.transport_fault == "timeout":
            raise httpx.ReadTimeout("The read operation timed out", request=request)
        return httpx.Response(answer.status, headers=answer.headers, content=answer.body, request=request)


class EmulatorASGI:
    """The emulator as an ASGI application, for `segport emulator --port N` (served by uvicorn)."""

    def __init__(
        self,
        emulator: Emulator,
        *,
        on_shutdown: Callable[[], None] | None = None,
        timeout_seconds: float = 130.0,
    ) -> None:
        self.emulator = emulator
        self.on_shutdown = on_shutdown
        self.timeout_seconds = timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        request = Request(
            method=scope["method"],
            path=scope["path"],
            query_string=scope.get("query_string", b"").decode("latin-1"),
            headers={key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]},
            body=b"".join(chunks),
        )
        # Imports of 40,000 contacts take a moment: keep the event loop free for other connections.
        answer = await asyncio.to_thread(self.emulator.handle, request)
        if answer.transport_fault == "timeout":
            await asyncio.sleep(self.timeout_seconds)
        if answer.transport_fault:
            # Promise a body and close before sending it: the client sees the connection drop.
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]})
            await send({"type": "http.response.body", "body": b"{", "more_body": True})
            raise ConnectionAbortedError("emulator fault: connection dropped")
        headers = [(key.encode("latin-1"), value.encode("latin-1")) for key, value in answer.headers.items()]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.on_shutdown is not None:
                    self.on_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return
