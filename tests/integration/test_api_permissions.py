"""Every API route for each role, and without a valid token: the status each must get (SQLite, PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from segport.connections import service as connections
from segport.exports import service as exports
from segport.segments import service as segments
from segport.server.app import create_app
from segport.users import service as users
from tests.support.app import App
from tests.support.routes import listed, uncovered
from tests.support.server import serving_app

ROLES = ("admin", "contributor", "viewer")


@pytest.fixture
def api(app: App, tmp_path: Path) -> Iterator[tuple[httpx.Client, dict[str, str], dict[str, int]]]:
    run_ids = app.exports_on_shared_and_private(tmp_path)
    # The rows below also reach the exports, the connections and the segment by their ids.
    for name in ("OnShared", "OnPrivate"):
        run_ids[f"export_{name}"] = exports.show_export(app.store, name=name).id
    for name in ("Shared", "Private"):
        run_ids[f"connection_{name}"] = connections.show_connection(app.store, name=name).id
    run_ids["segment_Everyone"] = segments.show_segment(app.store, name="Everyone").id
    tokens = {}
    for role in ROLES:
        users.add_user(app.store, name=role, role=role, actor="t")
        tokens[role] = users.issue_token(app.store, name=role, label="test", actor="t")[1]
    users.add_user(app.store, name="gone", role="admin", actor="t")
    revoked, tokens["revoked"] = users.issue_token(app.store, name="gone", label="test", actor="t")
    users.revoke_token(app.store, token_id=revoked.id, actor="t")
    with serving_app(create_app(app.settings, app.store, app.http)) as base, httpx.Client(base_url=base) as client:
        yield client, tokens, run_ids


# (method, path, JSON body, expected status for admin, contributor, viewer). Targets are chosen so that an
# allowed call is refused by the domain (409/404/422) rather than changing what the next rows rely on.
HOOK = "https://93.184.216.34/hooks/secret"  # a public address, never called here (no test is sent)
MATRIX: list[tuple[str, str, Any, tuple[int, int, int]]] = [
    ("GET", "/api/me", None, (200, 200, 200)),
    ("GET", "/api/users", None, (200, 403, 403)),
    ("POST", "/api/users", {"name": "admin", "role": "viewer"}, (409, 403, 403)),
    ("DELETE", "/api/users/nobody", None, (404, 403, 403)),
    ("PATCH", "/api/users/nobody", {"role": "viewer"}, (404, 403, 403)),
    ("PATCH", "/api/users/viewer", {"password": "short"}, (422, 403, 403)),
    ("POST", "/api/users/nobody/tokens", {"label": "x"}, (404, 403, 403)),
    ("GET", "/api/tokens", None, (200, 403, 403)),
    ("DELETE", "/api/tokens/99999", None, (404, 403, 403)),
    ("GET", "/api/schedule", None, (200, 200, 200)),
    ("PUT", "/api/schedule", {"kind": "daily", "times": ["25:00"]}, (422, 403, 403)),
    ("DELETE", "/api/schedule", None, (204, 403, 403)),
    ("POST", "/api/schedule/refresh", None, (202, 403, 403)),  # queued; no worker runs here
    ("GET", "/api/schedule/refreshes?limit=5", None, (200, 200, 200)),
    ("GET", "/api/schedule/refreshes?limit=0", None, (422, 422, 422)),
    ("GET", "/api/audit", None, (200, 403, 403)),
    ("GET", "/api/profiles", None, (200, 200, 200)),
    ("POST", "/api/profiles", None, (422, 403, 403)),  # no file: refused after the role check
    ("GET", "/api/segments", None, (200, 200, 200)),
    ("GET", "/api/segments/Everyone", None, (200, 200, 200)),
    ("POST", "/api/segments", {"name": "Everyone", "rule": "customer_id is not empty"}, (409, 409, 403)),
    ("PATCH", "/api/segments/Everyone", {"description": "all of them"}, (200, 200, 403)),
    ("DELETE", "/api/segments/Everyone", None, (409, 409, 403)),
    ("POST", "/api/segments/Everyone/deactivate", None, (200, 200, 403)),
    ("POST", "/api/segments/Everyone/activate", None, (200, 200, 403)),
    ("GET", "/api/segments/Everyone/count", None, (200, 200, 200)),
    ("GET", "/api/segments/Everyone/preview", None, (200, 200, 403)),
    ("GET", "/api/segments/Everyone/members.csv", None, (200, 200, 403)),
    ("GET", "/api/segments/Everyone/history?days=30", None, (200, 200, 200)),
    ("GET", "/api/segments/Everyone/history?days=0", None, (422, 422, 422)),
    ("POST", "/api/segments/Everyone/duplicate", {"new_name": "Everyone"}, (409, 409, 403)),
    ("PATCH", "/api/segments/Everyone", {"name": "Everyone"}, (200, 200, 403)),  # renamed to itself: no change
    ("GET", "/api/connections", None, (200, 200, 200)),
    ("GET", "/api/connections/terms", None, (200, 200, 200)),
    ("POST", "/api/connections", {"name": "Shared", "agreed": True}, (409, 403, 403)),  # the name is taken
    ("POST", "/api/connections/Nobody/reauthorize", None, (404, 403, 403)),
    ("GET", "/api/connections/Shared", None, (200, 200, 403)),
    ("GET", "/api/connections/Private", None, (200, 403, 403)),
    ("DELETE", "/api/connections/Shared", None, (409, 403, 403)),
    ("PATCH", "/api/connections/Shared", {"allow_contributors": True}, (200, 403, 403)),
    ("GET", "/api/connections/Shared/lists", None, (200, 200, 403)),
    ("GET", "/api/connections/Private/lists?search=On", None, (200, 403, 403)),
    ("POST", "/api/connections/Shared/lists", {"name": "list onshared"}, (422, 422, 403)),  # taken (any case)
    ("POST", "/api/connections/Private/lists", {"name": "list onprivate"}, (422, 403, 403)),
    ("GET", "/api/connections/Shared/custom_fields", None, (200, 200, 403)),
    ("GET", "/api/connections/Private/custom_fields", None, (200, 403, 403)),
    ("GET", "/api/properties", None, (200, 200, 200)),
    ("GET", "/api/exports", None, (200, 200, 200)),
    ("GET", "/api/exports/OnPrivate", None, (200, 200, 200)),
    ("GET", "/api/exports/id/{export_OnPrivate}", None, (200, 200, 200)),
    ("GET", "/api/exports/id/999999", None, (404, 404, 404)),
    ("PATCH", "/api/exports/id/{export_OnShared}", {"mode": "add"}, (200, 200, 403)),
    ("PATCH", "/api/exports/id/{export_OnPrivate}", {"mode": "add"}, (200, 403, 403)),
    ("DELETE", "/api/exports/id/{export_OnShared}", None, (409, 409, 403)),  # its run is queued
    ("GET", "/api/connections/id/{connection_Shared}", None, (200, 200, 403)),
    ("GET", "/api/connections/id/{connection_Private}", None, (200, 403, 403)),
    ("PATCH", "/api/connections/id/{connection_Shared}", {"allow_contributors": True}, (200, 403, 403)),
    ("DELETE", "/api/connections/id/{connection_Shared}", None, (409, 403, 403)),
    ("GET", "/api/segments/id/{segment_Everyone}", None, (200, 200, 200)),
    ("PATCH", "/api/segments/id/{segment_Everyone}", {"description": "all of them"}, (200, 200, 403)),
    ("DELETE", "/api/segments/id/{segment_Everyone}", None, (409, 409, 403)),
    (
        "POST",
        "/api/exports",
        {"name": "OnShared", "connection": "Shared", "list_id": "x", "email_field": "email", "segments": ["Everyone"]},
        (422, 422, 403),  # refused for the list ID, after the permission check
    ),
    (
        "POST",
        "/api/exports",
        {"name": "New", "connection": "Private", "list_id": "x", "email_field": "email", "segments": ["Everyone"]},
        (422, 403, 403),
    ),
    ("PATCH", "/api/exports/OnShared", {"mode": "add"}, (200, 200, 403)),
    ("PATCH", "/api/exports/OnShared", {"fields": [{"source_field": "nope", "target": "job_title"}]}, (422, 422, 403)),
    ("PATCH", "/api/exports/OnPrivate", {"mode": "add"}, (200, 403, 403)),
    ("POST", "/api/exports/OnShared/duplicate", {"new_name": "OnPrivate"}, (409, 409, 403)),
    ("DELETE", "/api/exports/OnShared", None, (409, 409, 403)),
    ("POST", "/api/exports/OnShared/run", {}, (202, 202, 403)),
    ("POST", "/api/exports/OnPrivate/run", {}, (202, 403, 403)),
    ("POST", "/api/exports/OnShared/dry-run", {}, (200, 200, 403)),
    ("PUT", "/api/exports/OnShared/schedule", {"mode": "off"}, (200, 200, 403)),
    ("PUT", "/api/exports/schedule", {"exports": ["OnShared"], "enable": True}, (200, 200, 403)),  # no change
    ("PUT", "/api/exports/schedule", {"exports": ["OnShared", "OnPrivate"], "enable": True}, (200, 403, 403)),
    ("PUT", "/api/exports/schedule", {"exports": ["OnShared"], "mode": "own", "kind": "daily"}, (422, 422, 403)),
    ("POST", "/api/exports/run-all", None, (202, 403, 403)),
    ("GET", "/api/runs", None, (200, 200, 200)),
    ("GET", "/api/runs/{OnPrivate}", None, (200, 200, 200)),
    ("GET", "/api/runs/{OnShared}/rows.csv", None, (200, 200, 403)),
    ("GET", "/api/runs/{OnPrivate}/rows.csv", None, (200, 403, 403)),
    ("GET", "/api/runs/{OnShared}/rows?limit=10", None, (200, 200, 403)),
    ("GET", "/api/runs/{OnPrivate}/rows", None, (200, 403, 403)),
    ("GET", "/api/runs/{OnShared}/rows?reason=nothing", None, (422, 422, 403)),
    ("POST", "/api/exports/OnShared/disconnect", None, (409, 403, 403)),  # its run is queued: refused
    ("POST", "/api/exports/Nobody/disconnect", None, (404, 403, 403)),
    ("POST", "/api/runs/{OnShared}/cancel", None, (200, 409, 403)),
    ("GET", "/api/alerts", None, (200, 200, 403)),
    ("GET", "/api/alerts/sent", None, (200, 200, 403)),
    ("POST", "/api/alerts", {"kind": "chat", "target": HOOK, "export": "OnShared"}, (201, 201, 403)),
    ("POST", "/api/alerts", {"kind": "chat", "target": HOOK, "export": "OnPrivate"}, (201, 403, 403)),
    ("POST", "/api/alerts", {"kind": "webhook", "target": HOOK, "connection": "Shared"}, (201, 403, 403)),
    ("POST", "/api/alerts", {"kind": "email", "target": "a@x.io", "export": "OnShared"}, (422, 422, 403)),  # no SMTP
    ("POST", "/api/alerts", {"kind": "chat", "target": HOOK}, (422, 422, 422)),  # for nothing
    ("POST", "/api/alerts/999/test", None, (404, 404, 404)),
    ("DELETE", "/api/alerts/999", None, (404, 404, 404)),
]


def call(client: httpx.Client, method: str, path: str, body: Any, token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.request(method, path, json=body, headers=headers)


def test_every_route_answers_each_role_as_its_permissions_say(
    api: tuple[httpx.Client, dict[str, str], dict[str, int]],
) -> None:
    client, tokens, run_ids = api
    failures = []
    for method, template, body, expected in MATRIX:
        path = template.format(**run_ids)
        for role, status in zip(ROLES, expected, strict=True):
            answer = call(client, method, path, body, tokens[role])
            if answer.status_code != status:
                failures.append(f"{method} {path} as {role}: {answer.status_code}, expected {status}: {answer.text}")
            elif status >= 400:
                problem = answer.json()
                assert answer.headers["content-type"].startswith("application/problem+json")
                assert problem["status"] == status and problem["title"] and problem["detail"]
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("caller", ["none", "malformed", "unknown", "revoked"])
def test_every_api_route_refuses_a_caller_without_a_valid_token(
    api: tuple[httpx.Client, dict[str, str], dict[str, int]], caller: str
) -> None:
    client, tokens, run_ids = api
    token = {"none": None, "malformed": "Basic abc", "unknown": "sp_" + "x" * 43, "revoked": tokens["revoked"]}[caller]
    for method, template, body, _ in MATRIX:
        headers = {}
        if token is not None:
            headers["Authorization"] = token if caller == "malformed" else f"Bearer {token}"
        answer = client.request(method, template.format(**run_ids), json=body, headers=headers)
        assert answer.status_code == 401, (method, template, answer.text)
        assert answer.headers["www-authenticate"] == "Bearer"


def test_health_needs_no_token_and_contributors_see_unshared_connections_by_name_only(
    api: tuple[httpx.Client, dict[str, str], dict[str, int]],
) -> None:
    client, tokens, _ = api
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
    listed = call(client, "GET", "/api/connections", None, tokens["contributor"]).json()
    private = next(item for item in listed if item["name"] == "Private")
    assert private == {"name": "Private", "kind": "constant_contact", "usable": False}
    shared = next(item for item in listed if item["name"] == "Shared")
    assert shared["usable"] is True and shared["account_name"]
    exports_seen = call(client, "GET", "/api/exports", None, tokens["contributor"]).json()
    assert {item["name"]: item["your_permissions"] for item in exports_seen} == {
        "OnPrivate": "view",
        "OnShared": "edit",
    }
    invalid = call(client, "POST", "/api/users", {"name": "", "role": "owner"}, tokens["admin"])
    assert invalid.status_code == 422
    assert {item["field"] for item in invalid.json()["fields"]} == {"name", "role"}


def test_the_matrix_covers_every_api_route(app: App) -> None:
    """A route added without a row here would escape both permission tests above."""
    document = create_app(app.settings, app.store, app.http).openapi()
    declared = {
        (method.upper(), template)
        for template, operations in document["paths"].items()
        if template.startswith("/api/")
        for method in operations
    }
    assert len(declared) >= 40
    missing = uncovered(declared, [(method, path) for method, path, _, _ in MATRIX])
    assert not missing, listed(missing)


def test_a_name_no_route_can_carry_is_reachable_and_renamed_by_its_id(
    app: App, api: tuple[httpx.Client, dict[str, str], dict[str, int]]
) -> None:
    # A store from before names were checked may hold an export named "a/b": /api/exports/a%2Fb cannot reach
    # it (the path is decoded before routing), its id can, and a rename by id makes it reachable by name.
    from sqlalchemy import update

    from segport.store.tables import exports as export_rows

    client, tokens, ids = api
    with app.store.begin() as db:
        db.execute(update(export_rows).where(export_rows.c.id == ids["export_OnShared"]).values(name="a/b"))
    assert call(client, "GET", "/api/exports/a%2Fb", None, tokens["admin"]).status_code == 404
    found = call(client, "GET", f"/api/exports/id/{ids['export_OnShared']}", None, tokens["admin"])
    assert found.status_code == 200 and found.json()["name"] == "a/b"
    renamed = call(client, "PATCH", f"/api/exports/id/{ids['export_OnShared']}", {"new_name": "a-b"}, tokens["admin"])
    assert renamed.status_code == 200, renamed.text
    assert call(client, "GET", "/api/exports/a-b", None, tokens["admin"]).json()["id"] == ids["export_OnShared"]
    missing = call(client, "GET", "/api/exports/id/424242", None, tokens["admin"])
    assert missing.status_code == 404 and missing.json()["field"] == "export"


def _exports_people_and_a_statement_log(app: App, tmp_path: Path) -> tuple[dict[str, Any], list[str]]:
    """Exports OnShared, OnPrivate and Disconnected (it was on Shared), a user of each role, and the list every
    statement sent to the store from now on is appended to."""
    from sqlalchemy import event

    app.exports_on_shared_and_private(tmp_path)
    app.add_export("Disconnected", "Shared", ["Everyone"])
    exports.disconnect_exports(app.store, names=["Disconnected"], actor="t")
    people = {role: users.add_user(app.store, name=role, role=role, actor="t") for role in ROLES}
    statements: list[str] = []
    event.listen(app.store.engine, "before_cursor_execute", lambda *call: statements.append(call[2]))
    return people, statements


def test_edit_rights_for_a_list_agree_with_the_export_rules_and_read_only_for_contributors(
    app: App, tmp_path: Path
) -> None:
    from segport.permissions import edit_rights, may_edit

    people, statements = _exports_people_and_a_statement_log(app, tmp_path)
    views = [exports.show_export(app.store, name=name) for name in ("OnShared", "OnPrivate", "Disconnected")]
    answers = {}
    for role, user in people.items():
        statements.clear()
        editable = edit_rights(app.store, user)
        assert (len(statements) > 0) is (role == "contributor"), (role, statements)
        answers[role] = [editable(view) for view in views]
        assert answers[role] == [may_edit(app.store, user, view) for view in views], role
    assert answers == {
        "admin": [True, True, True],
        "contributor": [True, False, True],
        "viewer": [False, False, False],
    }


def test_who_manages_a_run_export_by_name_agrees_with_the_export_rules_and_reads_only_for_contributors(
    app: App, tmp_path: Path
) -> None:
    # The run pages ask by the run's export name; admins and viewers need no read (always, never).
    from segport.permissions import may_edit, may_edit_named

    people, statements = _exports_people_and_a_statement_log(app, tmp_path)
    for role, user in people.items():
        for name in ("OnShared", "OnPrivate", "Disconnected", "Gone"):
            statements.clear()
            answer = may_edit_named(app.store, user, name)
            read = len(statements)
            if name == "Gone":
                assert answer is (role == "admin"), role
            else:
                assert answer is may_edit(app.store, user, exports.show_export(app.store, name=name)), (role, name)
            assert (read > 0) is (role == "contributor"), (role, name, read)
    assert [may_edit_named(app.store, people["contributor"], name) for name in ("OnShared", "OnPrivate")] == [
        True,
        False,
    ]
