"""Receivers for alerts in the tests: an HTTP endpoint that records what is posted to it (chat and JSON
webhooks) and answers as told, and an SMTP server (aiosmtpd) that keeps the messages it is sent."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import orjson
from aiosmtpd.controller import Controller

from segport.emulator.serve import free_port


@dataclass
class Hook:
    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # status codes to answer, in turn; then 200


@contextmanager
def hook_server() -> Iterator[Hook]:
    port = free_port()
    hook = Hook(f"http://127.0.0.1:{port}/hooks/T000/B000/secret")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            hook.received.append(orjson.loads(body))
            self.send_response(hook.answers.pop(0) if hook.answers else 200)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            return

    server = HTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Inbox:
    port: int
    messages: list[Message] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)  # recipients the server refuses


@contextmanager
def smtp_inbox() -> Iterator[Inbox]:
    inbox = Inbox(free_port())

    class Handler:
        async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
            if address in inbox.refuse:
                return "550 no such user here"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            inbox.messages.append(message_from_bytes(envelope.content))
            return "250 Message accepted for delivery"

    controller = Controller(Handler(), hostname="127.0.0.1", port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()
