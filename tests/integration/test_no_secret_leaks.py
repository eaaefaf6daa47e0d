"""No secret in plain text: not in the database file, not in any log line, not in any API response.

Secrets: the access and refresh tokens Constant Contact issued, the application's client secret,
segport's own API tokens, a web UI password and session cookie. The whole browser connect flow, an
export and a dry run go through the API; the same connection's and export's pages through the web UI.
"""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import select

from segport.emulator import DEFAULT_CLIENT_SECRET
from segport.server.app import create_app
from segport.store.tables import connections
from segport.users import service as users
from tests.support.app import App
from tests.support.server import free_port, serving_app


def test_no_secret_is_stored_logged_or_answered_in_plain_text(
    app: App, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    if app.settings.database_url is not None:
        pytest.skip("the database file is read directly: SQLite only (PostgreSQL keeps the same sealed values)")
    caplog.set_level(logging.DEBUG)
    password = "correct horse battery staple"
    users.add_user(app.store, name="ada", role="admin", actor="t", password=password)
    _, api_token = users.issue_token(app.store, name="ada", label="t", actor="t")
    answers: list[str] = []
    app.load_profiles(tmp_path, 30)
    list_id = app.emulator.create_list("L")
    port = free_port()
    settings = app.settings.model_copy(update={"api_public_url": f"http://127.0.0.1:{port}"})
    app.emulator.settings.redirect_uris.append(f"http://127.0.0.1:{port}/oauth/callback")  # as in the portal
    with (
        serving_app(create_app(settings, app.store, app.http), port) as api_base,
        httpx.Client(base_url=api_base, headers={"Authorization": f"Bearer {api_token}"}) as api,
    ):

        def call(method: str, path: str, **options: object) -> httpx.Response:
            answer = api.request(method, path, **options)  # type: ignore[arg-type]
            answers.append(answer.text)
            return answer

        started = call("POST", "/api/connections", json={"name": "CC", "agreed": True}).json()
        redirect = app.http.get(started["authorize_url"], follow_redirects=False).headers["location"]
        landed = httpx.get(redirect)
        answers.append(landed.text)
        assert landed.status_code == 200, landed.text
        call("POST", "/api/segments", json={"name": "All", "rule": "customer_id is not empty"})
        call(
            "POST",
            "/api/exports",
            json={"name": "E", "connection": "CC", "list_id": list_id, "email_field": "email", "segments": ["All"]},
        )
        for path in ("/api/connections", "/api/connections/CC", "/api/exports", "/api/audit", "/api/tokens"):
            assert call("GET", path).status_code == 200
        call("POST", "/api/exports/E/dry-run", json={})
        answers.append(orjson.dumps(call("GET", "/openapi.json").json()).decode())
        with httpx.Client(base_url=api_base) as browser:
            signed_in = browser.post("/sign-in", data={"name": "ada", "password": password})
            assert signed_in.status_code == 303
            session_cookie = browser.cookies["segport_session"]
            for page in ("/connections", "/connections/CC", "/exports", "/exports/E", "/users", "/audit"):
                shown = browser.get(page)
                assert shown.status_code == 200, page
                answers.append(shown.text)
    with app.store.begin() as db:
        sealed = db.execute(select(connections.c.tokens_sealed)).scalar_one()
    tokens = orjson.loads(app.store.secrets.open(sealed))
    secrets = {
        "access token": tokens["access_token"],
        "refresh token": tokens["refresh_token"],
        "client secret": DEFAULT_CLIENT_SECRET,
        "API token": api_token,
        "web UI password": password,
        "session cookie": session_cookie,
    }
    app.store.close()
    stored = b"".join(path.read_bytes() for path in app.settings.home.glob("segport.db*"))
    logged = "\n".join(record.getMessage() for record in caplog.records)
    # The test's own HTTP client logs the answers it receives (Set-Cookie included) at DEBUG; segport's
    # clients talk only to Constant Contact, so the cookie is looked for in every other logger's lines.
    not_the_test_client = "\n".join(
        record.getMessage() for record in caplog.records if not record.name.startswith(("httpcore", "httpx"))
    )
    for label, secret in secrets.items():
        assert secret.encode() not in stored, f"{label} in the database file"
        assert secret not in (not_the_test_client if label == "session cookie" else logged), f"{label} in a log line"
        assert all(secret not in text for text in answers), f"{label} in an API response or a page"
