"""Signing in to segport's pages over HTTP, and the CSRF token their forms carry."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

PASSWORD = "a long enough password"


@contextmanager
def signed_in(base: str, name: str, password: str = PASSWORD) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, timeout=30) as client:
        answer = client.post("/sign-in", data={"name": name, "password": password, "next": "/runs"})
        assert answer.status_code == 303 and answer.headers["location"] == "/runs", answer.text
        yield client


def csrf_token(client: httpx.Client, path: str = "/exports") -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)
