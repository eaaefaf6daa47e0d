"""Garbage in every form of every page: each field of each form the pages show, filled with hostile values (a
NUL, a right-to-left mark, 100,000 characters, a number beyond 64 bits, markup, a path), is answered with a page
or a redirect, never a server error; and nothing of the values is echoed unescaped."""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from segport.server.app import create_app
from segport.users import service as users
from tests.support.app import App
from tests.support.server import serving_app
from tests.support.web import PASSWORD, signed_in

HOSTILE = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\u202egnp.exe",
    "x" * 100_000,
    str(2**64),
    "-1",
    "1e308",
    "nan",
    "../../../etc/passwd",
    "<script>alert(1)</script>",
    "😀" * 10,
    "'; DROP TABLE runs; --",
    "25:99",
]
# Forms left out: those that would end the session the rest needs (signing out, the signed-in admin's own
# password and role); another user's are filled in.
SKIPPED = ("/sign-out", "/users/admin/")
START_PAGES = ["/", "/exports", "/segments", "/profiles", "/runs", "/connections", "/alerts", "/schedule", "/users"]


class _Forms(HTMLParser):
    """The POST forms of a page (action, field names with their first value) and its links."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self.links: list[str] = []
        self._open: tuple[str, dict[str, str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "a" and found.get("href"):
            self.links.append(found["href"])
        elif tag == "form" and found.get("method", "get").lower() == "post":
            self._open = (found.get("action", ""), {})
        elif tag in ("input", "select", "textarea") and self._open is not None and found.get("name"):
            fields = self._open[1]
            fields.setdefault(found["name"], found.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._open is not None:
            self.forms.append(self._open)
            self._open = None


def _crawl(client: httpx.Client, limit: int = 80) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(page, action, fields) of every POST form on the pages reached from START_PAGES by links, each form
    action once (its first page)."""
    seen_pages: set[str] = set()
    seen_actions: set[str] = set()
    waiting = list(START_PAGES)
    while waiting and len(seen_pages) < limit:
        page = waiting.pop(0)
        if page in seen_pages:
            continue
        seen_pages.add(page)
        answer = client.get(page)
        if answer.status_code != 200 or "text/html" not in answer.headers.get("content-type", ""):
            continue
        parsed = _Forms()
        parsed.feed(answer.text)
        for action, fields in parsed.forms:
            target = urlsplit(urljoin(page, action or page)).path
            if target not in seen_actions and not target.startswith(SKIPPED):
                seen_actions.add(target)
                yield page, target, fields
        for link in parsed.links:
            parts = urlsplit(urljoin(page, link))
            if not parts.netloc and parts.path.startswith("/") and not parts.path.endswith((".csv", ".json")):
                waiting.append(parts.path + (f"?{parts.query}" if parts.query else ""))


@pytest.fixture
def site(app: App, tmp_path: Path) -> Iterator[str]:
    app.exports_on_shared_and_private(tmp_path)
    users.add_user(app.store, name="admin", role="admin", actor="t", password=PASSWORD)
    users.add_user(app.store, name="other", role="viewer", actor="t", password=PASSWORD)
    with serving_app(create_app(app.settings, app.store, app.http)) as base:
        yield base


def test_every_form_answers_garbage_in_every_field_without_a_server_error(site: str) -> None:
    failures: list[str] = []
    forms = 0
    with signed_in(site, "admin") as client:
        found = list(_crawl(client))
        # Forms that remove or rename come last, so the others still find what they work on.
        found.sort(key=lambda item: any(word in item[1] for word in ("remove", "delete", "revoke", "disconnect")))
        for page, action, fields in found:
            forms += 1
            editable = [name for name in fields if name != "csrf_token"]
            for value in HOSTILE:
                # Every field at once, then (for the first values) each field alone with the others as shown.
                attempts = [dict.fromkeys(editable, value)]
                if value in HOSTILE[:6]:
                    attempts += [{name: value} for name in editable]
                for changed in attempts:
                    data = {**fields, **changed, "csrf_token": fields.get("csrf_token", "")}
                    try:
                        answer = client.post(action, data=data)
                    except httpx.TransportError as error:  # the server dropped the connection
                        failures.append(f"{action} (from {page}) {sorted(changed)}={value[:20]!r}: {error!r}")
                        continue
                    if answer.headers.get("location", "").startswith("/sign-in"):
                        raise AssertionError(f"{action} {sorted(changed)}={value[:20]!r} ended the session")
                    if answer.status_code >= 500 or "Unexpected error" in answer.text:
                        failures.append(
                            f"{action} (from {page}) {sorted(changed)}={value[:20]!r}: {answer.status_code}"
                        )
                    if value.startswith("<script>") and value in answer.text:
                        failures.append(f"{action} (from {page}) echoes markup unescaped")
    assert forms >= 25, f"only {forms} forms found"
    assert not failures, "\n".join(sorted(set(failures))[:40])
