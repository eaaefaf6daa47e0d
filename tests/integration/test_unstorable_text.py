"""Text no database keeps, refused with 400 on both stores: a NUL character (0x00) anywhere in a request, the
API's or a page's, and half of a character (a lone surrogate escape) in a JSON body.

PostgreSQL refused a NUL in a name looked up, a description or a label at the statement (500), and SQLite kept
it: the same request did two things on two stores. A lone surrogate failed on both (and in the password hash)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from segport.segments.service import list_segments
from segport.server.app import create_app
from segport.users import service as users
from tests.support.app import App
from tests.support.server import serving_app
from tests.support.web import PASSWORD, csrf_token, signed_in


@pytest.fixture
def served(app: App, tmp_path: Path) -> Iterator[tuple[str, str]]:
    app.exports_on_shared_and_private(tmp_path)
    users.add_user(app.store, name="admin", role="admin", actor="t", password=PASSWORD)
    token = users.issue_token(app.store, name="admin", label="nul", actor="t")[1]
    with serving_app(create_app(app.settings, app.store, app.http)) as base:
        yield base, token


def _refused(answer: httpx.Response, where: str, what: str = "a NUL character (0x00)") -> bool:
    return answer.status_code == 400 and answer.json()["title"] == f"The request holds {what} in {where}."


HALF = "half of a character (a lone surrogate escape such as \\ud800)"


def test_a_nul_in_the_address_the_query_or_the_body_is_refused_and_nothing_is_kept(
    app: App, served: tuple[str, str]
) -> None:
    base, token = served
    segments_before = [segment.name for segment in list_segments(app.store)]
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as api:
        assert _refused(api.get("/api/segments/a%00b"), "its address")
        assert _refused(api.get("/api/runs", params={"export": "On\x00Shared"}), "its query")
        created = api.post(
            "/api/segments", json={"name": "New", "rule": "customer_id is not empty", "description": "a\x00"}
        )
        assert _refused(created, "its body")
        labelled = api.post("/api/users/admin/tokens", json={"label": "\x00"})
        assert _refused(labelled, "its body")
    with signed_in(base, "admin") as pages:
        assert _refused(pages.get("/segments/Every%00one"), "its address")
        form = {"csrf_token": csrf_token(pages, "/users"), "label": "a\x00b"}
        assert _refused(pages.post("/users/admin/token", data=form), "its body")
    assert [segment.name for segment in list_segments(app.store)] == segments_before
    assert [token.label for token in users.list_tokens(app.store, name="admin")] == ["nul"]


def test_text_that_only_looks_like_a_nul_goes_through_unchanged(app: App, served: tuple[str, str]) -> None:
    """A backslash before "u0000" typed as text, and "%00" typed as text, are not NULs."""
    base, token = served
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as api:
        for name, description in (("Slashed", "C:\\u0000 and \\\\u0000"), ("Percent", "100%00 sure")):
            answer = api.post("/api/segments", json={"name": name, "rule": "customer_id is not empty",
                                                     "description": description})  # fmt: skip
            assert answer.status_code == 201, answer.text
            assert api.get(f"/api/segments/{name}").json()["description"] == description
        assert api.get("/api/runs", params={"export": "%00"}).status_code == 200  # sent as %2500


def test_half_a_character_in_a_json_body_is_refused_and_a_whole_one_kept(app: App, served: tuple[str, str]) -> None:
    base, token = served
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    rule = '"rule": "customer_id is not empty"'
    with httpx.Client(base_url=base, headers=headers) as api:
        for body in (
            b'{"name": "bob", "role": "viewer", "password": "a long enough \\ud800 password"}',
            b'{"name": "Half", ' + rule.encode() + b', "description": "\\udfff"}',
            # A typed backslash and "ud83d", then the low half alone.
            b'{"name": "Half", ' + rule.encode() + b', "description": "\\\\ud83d\\ude00"}',
        ):
            path = "/api/users" if b"password" in body else "/api/segments"
            assert _refused(api.post(path, content=body), "its body", HALF), body
        whole = api.post(
            "/api/segments", content=b'{"name": "Whole", ' + rule.encode() + b', "description": "\\ud83d\\ude00"}'
        )
        assert whole.status_code == 201, whole.text
        assert api.get("/api/segments/Whole").json()["description"] == "\U0001f600"
    assert [user.name for user in users.list_users(app.store)] == ["admin"]
