"""Every web page for each role and without a session, the CSRF check, sessions, headers (SQLite, PostgreSQL).

The browser tests (tests/e2e/test_web_ui.py) walk the main paths in Chromium; this checks every page's
permissions over real HTTP, faster and exhaustively.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select, update

from segport.connections import service as connections
from segport.runs import queue
from segport.scheduling.service import export_schedules
from segport.segments.membership import count_segment
from segport.segments.service import show_segment
from segport.server.app import create_app
from segport.store.tables import segment_counts, sign_ins, web_sessions
from segport.users import service as users
from segport.web.routes import account, profiles, runs, schedule
from segport.web.routes import connections as connection_pages
from segport.web.routes import export_schedules as export_schedule_pages
from segport.web.routes import exports as export_pages
from segport.web.routes import segments as segment_pages
from segport.web.routes import users as user_pages
from tests.support.app import App
from tests.support.routes import listed, uncovered
from tests.support.server import serving_app
from tests.support.web import PASSWORD, csrf_token, signed_in

ROLES = ("admin", "contributor", "viewer")


@pytest.fixture
def site(app: App, tmp_path: Path) -> Iterator[tuple[str, dict[str, int]]]:
    run_ids = app.exports_on_shared_and_private(tmp_path)
    for role in ROLES:
        users.add_user(app.store, name=role, role=role, actor="t", password=PASSWORD)
    with serving_app(create_app(app.settings, app.store, app.http)) as base:
        yield base, run_ids


# (path, expected status for admin, contributor, viewer)
PAGES: list[tuple[str, tuple[int, int, int]]] = [
    ("/exports", (200, 200, 200)),
    ("/exports?search=constant", (200, 200, 200)),
    ("/exports/new", (200, 200, 403)),
    ("/exports/OnPrivate", (200, 200, 200)),
    ("/exports/OnShared/edit", (200, 200, 403)),
    ("/exports/OnPrivate/edit", (200, 403, 403)),
    ("/exports/OnShared/schedule", (200, 200, 403)),
    ("/exports/OnPrivate/schedule", (200, 403, 403)),
    ("/exports/OnShared/remove", (200, 200, 403)),
    ("/exports/schedule?exports=OnShared", (200, 200, 403)),
    ("/exports/schedule?exports=OnShared&exports=OnPrivate", (200, 403, 403)),
    ("/exports/schedule", (422, 422, 403)),  # none chosen
    ("/exports/Nobody", (404, 404, 404)),
    ("/exports/check-list?connection=Shared&list_id=x", (400, 400, 400)),
    ("/exports/lists?connection=Shared", (200, 200, 400)),
    ("/exports/lists?connection=Private", (200, 400, 400)),
    ("/segments", (200, 200, 200)),
    ("/segments/new", (200, 200, 403)),
    ("/segments/Everyone", (200, 200, 200)),
    ("/segments/Everyone/edit", (200, 200, 403)),
    ("/segments/Everyone/members.csv", (200, 200, 403)),
    ("/segments/Everyone?range=7", (200, 200, 200)),
    ("/segments/Everyone?range=nonsense", (200, 200, 200)),  # the default range instead
    ("/segments/estimate?rule=customer_id%20is%20not%20empty", (200, 200, 403)),  # viewers may not probe data
    ("/segments/estimate?rule=nonsense%20%3D", (400, 400, 403)),
    ("/profiles", (200, 200, 200)),
    ("/runs", (200, 200, 200)),
    ("/runs?status=Queued", (200, 200, 200)),
    ("/runs/{OnPrivate}", (200, 200, 200)),
    ("/runs/{OnPrivate}/progress", (200, 200, 200)),
    ("/runs/{OnShared}/rows.csv", (200, 200, 403)),
    ("/runs/{OnPrivate}/rows.csv", (200, 403, 403)),
    ("/connections", (200, 200, 200)),
    ("/connections/new", (200, 403, 403)),
    ("/connections/new/review", (404, 403, 403)),  # no sign-in waits for review
    ("/connections/Shared", (200, 200, 403)),
    ("/connections/Private", (200, 403, 403)),
    ("/connections/Shared/remove", (200, 403, 403)),
    ("/schedule", (200, 403, 403)),
    ("/users", (200, 403, 403)),
    ("/audit", (200, 403, 403)),
    ("/no-such-page", (404, 404, 404)),
]

# (path, form, expected status for admin, contributor, viewer): allowed calls are chosen to be refused by
# the domain, or to change nothing the next rows rely on.
FORMS: list[tuple[str, dict[str, Any], tuple[int, int, int]]] = [
    ("/exports/OnPrivate/run", {}, (303, 403, 403)),
    ("/exports/new", {"name": "", "connection": "Shared"}, (400, 400, 403)),
    ("/exports/OnPrivate/edit", {"name": "OnPrivate"}, (400, 403, 403)),
    ("/exports/OnShared/dry-run", {}, (200, 200, 403)),  # sends nothing
    ("/exports/run-all", {}, (303, 403, 403)),  # nothing has an active schedule: nothing queued
    ("/exports/OnShared/duplicate", {"new_name": "OnPrivate"}, (409, 409, 403)),
    ("/exports/OnShared/schedule", {"mode": "own", "kind": "daily", "times": "25:00"}, (400, 400, 403)),
    ("/exports/OnPrivate/remove", {}, (409, 403, 403)),  # a run is queued: refused
    ("/exports/schedule", {"exports": "OnShared", "choice": "enable"}, (303, 303, 403)),  # on already: no change
    ("/exports/schedule", {"exports": ["OnShared", "OnPrivate"], "choice": "enable"}, (303, 403, 403)),
    (
        "/exports/schedule",
        {"exports": "OnShared", "choice": "override", "mode": "own", "times": "7:99"},
        (400, 400, 403),
    ),
    ("/segments/Everyone/delete", {}, (409, 409, 403)),  # used by exports: refused
    ("/segments/Everyone/duplicate", {"new_name": "Everyone"}, (409, 409, 403)),  # the name is taken
    ("/segments/new", {"name": "Bad", "rule": "customer_id ="}, (400, 400, 403)),
    ("/segments/Everyone/edit", {"name": "Everyone", "rule": "customer_id ="}, (400, 400, 403)),
    ("/connections/Shared/remove", {}, (400, 403, 403)),  # used by an export: refused
    ("/connections/new", {"name": "Shared", "who": "admins"}, (400, 403, 403)),  # not agreed to the terms
    ("/connections/new/review", {}, (404, 403, 403)),  # no sign-in waits for review
    ("/connections/Nobody/reauthorize", {}, (404, 403, 403)),
    ("/connections/Shared/edit", {"name": "Shared", "who": "contributors"}, (303, 403, 403)),
    ("/schedule", {"kind": "daily", "times": "7:99"}, (400, 403, 403)),
    ("/schedule/refresh", {}, (303, 403, 403)),  # queued; no worker runs here
    ("/users", {"name": "admin", "role": "viewer"}, (400, 403, 403)),
    ("/users/viewer/role", {"role": "owner"}, (400, 403, 403)),
    ("/tokens/99999/revoke", {}, (404, 403, 403)),
    ("/connections/Shared/disconnect-exports", {"exports": "OnShared"}, (400, 403, 403)),  # its run is queued
    ("/connections/Shared/disconnect-exports", {}, (400, 403, 403)),  # none chosen
    ("/runs/{OnShared}/cancel", {}, (303, 409, 403)),  # the admin canceled it first
    ("/profiles", {"key": "id"}, (400, 403, 403)),  # no file chosen
]


def test_every_page_answers_each_role_as_its_permissions_say(site: tuple[str, dict[str, int]]) -> None:
    base, run_ids = site
    failures = []
    for role, position in zip(ROLES, range(3), strict=True):
        with signed_in(base, role) as client:
            for template, expected in PAGES:
                path = template.format(**run_ids)
                answer = client.get(path)
                if answer.status_code != expected[position]:
                    failures.append(f"GET {path} as {role}: {answer.status_code}, expected {expected[position]}")
                elif answer.status_code == 403 and "text/html" in answer.headers["content-type"]:
                    assert f"A {role} cannot do this." in answer.text or "not shared with contributors" in answer.text
            token = csrf_token(client)
            for template, form, expected in FORMS:
                path = template.format(**run_ids)
                answer = client.post(path, data={**form, "csrf_token": token})
                if answer.status_code != expected[position]:
                    got = f"{answer.status_code}, expected {expected[position]}"
                    failures.append(f"POST {path} as {role}: {got}: {answer.text[:300]}")
    assert not failures, "\n".join(failures)


def test_without_a_session_every_page_sends_the_browser_to_sign_in_and_back(
    site: tuple[str, dict[str, int]],
) -> None:
    base, run_ids = site
    with httpx.Client(base_url=base) as client:
        for template, _ in PAGES:
            path = template.format(**run_ids)
            if path == "/no-such-page":
                continue
            answer = client.get(path)
            assert answer.status_code == 303, (path, answer.status_code)
            assert answer.headers["location"].startswith("/sign-in?next=%2F"), path
        for template, form, _ in FORMS:
            answer = client.post(template.format(**run_ids), data=form)
            assert answer.status_code == 303 and answer.headers["location"] == "/sign-in?next=%2F", template


def test_forms_need_the_session_csrf_token(site: tuple[str, dict[str, int]]) -> None:
    base, _ = site
    with signed_in(base, "admin") as admin, signed_in(base, "contributor") as other:
        forged = admin.post("/exports/OnShared/run", data={})
        assert forged.status_code == 403 and "This form has expired" in forged.text
        someone_elses = admin.post("/exports/OnShared/run", data={"csrf_token": csrf_token(other)})
        assert someone_elses.status_code == 403
        # The run queued by the fixture is still the only one: nothing was queued above.
        runs_page = admin.get("/runs?export=OnShared").text
        assert runs_page.count('href="/runs/') == 1


def test_an_unexpected_error_answers_a_page_or_problem_details_with_the_headers_and_logs_the_traceback(
    app: App, site: tuple[str, dict[str, int]], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from segport.api.routes import runs as run_routes

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("the disk said no: private detail")

    monkeypatch.setattr(runs, "list_runs", broken)  # the runs page's
    monkeypatch.setattr(run_routes, "list_runs", broken)  # the API's
    token = users.issue_token(app.store, name="admin", label="t", actor="t")[1]
    base, _ = site
    server_log = logging.getLogger("uvicorn.error")
    server_log.addHandler(caplog.handler)
    try:
        with signed_in(base, "viewer") as browser:
            page = browser.get("/runs")
        answer = httpx.get(f"{base}/api/runs", headers={"Authorization": f"Bearer {token}"})
        # The server logs a failure after it has answered: wait for both. (A record may reach caplog twice:
        # its handler on the server's logger, and the root's where that logger passes records on.)
        deadline = time.monotonic() + 10
        while len(logged := {id(record): record for record in caplog.records if record.exc_info}) < 2:
            assert time.monotonic() < deadline, f"the server logged {len(logged)} of the 2 failures"
            time.sleep(0.05)
    finally:
        server_log.removeHandler(caplog.handler)
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    assert "Unexpected error" in page.text and "Try again" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert answer.status_code == 500 and answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["title"] == "Unexpected error" and answer.json()["hint"].startswith("Try again")
    for told in (page, answer):
        assert told.headers["x-content-type-options"] == "nosniff"
        assert "private detail" not in told.text and "Traceback" not in told.text
    # Each failure's traceback is in the server's log.
    assert len(logged) == 2 and all("private detail" in str(record.exc_info[1]) for record in logged.values())  # type: ignore[index]


def test_sessions_are_http_only_same_site_and_end(app: App, site: tuple[str, dict[str, int]]) -> None:
    base, _ = site
    with httpx.Client(base_url=base) as client:
        answer = client.post("/sign-in", data={"name": "viewer", "password": PASSWORD, "next": "//evil.example/x"})
        assert answer.headers["location"] == "/exports"  # no open redirect
        cookie = answer.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
        page = client.get("/exports")
        assert page.status_code == 200
        policy = page.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        wrong = httpx.post(f"{base}/sign-in", data={"name": "viewer", "password": "not it at all"})
        assert wrong.status_code == 401 and "The name or the password is wrong" in wrong.text
        unknown = httpx.post(f"{base}/sign-in", data={"name": "nobody", "password": PASSWORD})
        assert unknown.status_code == 401 and unknown.text == wrong.text.replace("viewer", "nobody")
        # Idle too long: the session is gone and the next page asks to sign in again.
        with app.store.begin() as db:
            db.execute(update(web_sessions).values(last_seen_at=datetime.now(UTC) - timedelta(hours=3)))
        assert client.get("/exports").headers["location"].startswith("/sign-in")
        # Signing out ends it on the server, whatever the browser keeps.
        with signed_in(base, "viewer") as again:
            kept = dict(again.cookies)
            again.post("/sign-out", data={"csrf_token": csrf_token(again)})
        with httpx.Client(base_url=base, cookies=kept) as replay:
            assert replay.get("/exports").status_code == 303
        # A new password ends the user's sessions too.
        with signed_in(base, "viewer") as third:
            users.set_password(app.store, name="viewer", password="another long password", actor="t")
            assert third.get("/exports").status_code == 303


def test_a_wizard_sign_in_comes_back_only_in_the_session_that_started_it(
    app: App, site: tuple[str, dict[str, int]]
) -> None:
    base, _ = site
    with signed_in(base, "admin") as admin, signed_in(base, "admin") as other:
        token = csrf_token(admin, "/connections/new")
        started = admin.post(
            "/connections/new", data={"csrf_token": token, "kind": "constant_contact", "name": "New", "agreed": "on"}
        )
        assert started.status_code == 303
        authorize = app.http.get(started.headers["location"], follow_redirects=False)  # the emulator
        callback = authorize.headers["location"]
        path = callback[callback.index("/oauth/callback") :]
        stolen = other.get(path)  # another session (another browser) cannot finish it
        assert stolen.status_code == 409 and "started in another browser session" in stolen.text
        assert "New" not in [view.name for view in connections.list_connections(app.store)]
        # In its own session it comes back to the wizard's last step: the account, the export user, Save.
        review = admin.get(path)
        assert review.status_code == 303 and review.headers["location"].startswith("/connections/new/review?")
        page = admin.get(review.headers["location"])
        assert page.status_code == 200 and app.emulator.settings.account_name in page.text
        pending = re.search(r'name="pending" value="([^"]+)"', page.text)
        assert pending
        form = {"csrf_token": token, "pending": pending.group(1)}
        refused = admin.post("/connections/new/review", data=form)
        assert refused.status_code == 400 and "no export user" in refused.text
        saved = admin.post("/connections/new/review", data={**form, "export_user": "on"})
        assert saved.status_code == 303 and saved.headers["location"] == "/connections/New"
        view = connections.show_connection(app.store, name="New")
        assert view.export_user == "admin" and view.consent_by == "admin" and view.account_name
        with app.store.begin() as db:  # the sign-in and its sealed copy of the tokens are gone
            assert db.execute(select(func.count()).select_from(sign_ins)).scalar_one() == 0
        assert admin.post("/connections/new/review", data={**form, "export_user": "on"}).status_code == 404
        # Reauthorize comes back to the connection's page.
        again = admin.post("/connections/Shared/reauthorize", data={"csrf_token": token})
        callback = app.http.get(again.headers["location"], follow_redirects=False).headers["location"]
        back = admin.get(callback[callback.index("/oauth/callback") :])
        assert back.status_code == 303 and back.headers["location"] == "/connections/Shared?reauthorized=1"
        assert "Signed in to Constant Contact again" in admin.get(back.headers["location"]).text


def test_the_openapi_page_loads_its_assets_from_segport(site: tuple[str, dict[str, int]]) -> None:
    base, _ = site
    page = httpx.get(f"{base}/docs")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(source.startswith("/") for source in sources), sources
    for source in sources:
        assert httpx.get(base + source).status_code == 200, source
    assert httpx.get(f"{base}/static/segport.js").status_code == 200


def test_wrong_passwords_pause_a_name_until_an_admin_sets_a_new_one(app: App, site: tuple[str, dict[str, int]]) -> None:
    base, _ = site
    for _attempt in range(app.settings.sign_in_attempts):
        wrong = httpx.post(f"{base}/sign-in", data={"name": "contributor", "password": "guess number one"})
        assert wrong.status_code == 401
    paused = httpx.post(f"{base}/sign-in", data={"name": "contributor", "password": PASSWORD})
    assert paused.status_code == 429 and "Too many wrong passwords for &#39;contributor&#39;" in paused.text
    with signed_in(base, "viewer"):  # other names are not affected
        pass
    failed = [entry for entry in audit_entries(app) if entry.action == "user.sign_in_failed"]
    assert len(failed) == app.settings.sign_in_attempts and {entry.subject for entry in failed} == {"contributor"}
    users.set_password(app.store, name="contributor", password=PASSWORD, actor="admin")
    with signed_in(base, "contributor") as client:
        assert client.get("/exports").status_code == 200


def audit_entries(app: App) -> list[Any]:
    from segport import audit

    return audit.entries(app.store, limit=100)


def test_an_abandoned_wizard_sign_in_is_purged_with_its_tokens(app: App, site: tuple[str, dict[str, int]]) -> None:
    base, _ = site
    with signed_in(base, "admin") as admin:
        token = csrf_token(admin, "/connections/new")
        form = {"csrf_token": token, "kind": "constant_contact", "agreed": "on"}
        started = admin.post("/connections/new", data={**form, "name": "Abandoned"})
        callback = app.http.get(started.headers["location"], follow_redirects=False).headers["location"]
        review = admin.get(callback[callback.index("/oauth/callback") :]).headers["location"]
        with app.store.begin() as db:
            assert db.execute(select(func.count()).where(sign_ins.c.tokens_sealed.is_not(None))).scalar_one() == 1
            db.execute(update(sign_ins).values(created_at=datetime.now(UTC) - timedelta(minutes=31)))
        admin.post("/connections/new", data={**form, "name": "Next"})  # any new sign-in purges old ones
        with app.store.begin() as db:
            assert db.execute(select(func.count()).where(sign_ins.c.tokens_sealed.is_not(None))).scalar_one() == 0
            assert db.execute(select(sign_ins.c.connection_name)).scalars().all() == ["Next"]
        assert admin.get(review).status_code == 404


def test_the_exports_search_matches_export_and_connection_names_and_the_type(site: tuple[str, dict[str, int]]) -> None:
    base, _ = site
    with signed_in(base, "viewer") as client:

        def listed(search: str) -> list[str]:
            page = client.get("/exports", params={"search": search}).text
            return re.findall(r'<td><a href="/exports/[^"]+">([^<]+)</a></td>', page)

        assert listed("") == ["OnPrivate", "OnShared"]
        assert listed("onsh") == ["OnShared"]  # the export's name, any case
        assert listed("private") == ["OnPrivate"]  # its connection is "Private" too
        assert listed("Constant Contact") == ["OnPrivate", "OnShared"]  # the connection's type
        assert listed("nothing like it") == []


def test_an_admin_disconnects_the_blocking_exports_then_removes_the_connection(
    app: App, site: tuple[str, dict[str, int]]
) -> None:
    base, run_ids = site
    queue.cancel(app.store, run_id=run_ids["OnShared"], actor="t")
    with signed_in(base, "admin") as admin:
        page = admin.get("/connections/Shared/remove").text
        assert 'id="blocking"' in page and "Remove connection" not in page
        disconnected = admin.post(
            "/connections/Shared/disconnect-exports", data={"exports": "OnShared", "csrf_token": csrf_token(admin)}
        )
        assert (disconnected.status_code, disconnected.headers["location"]) == (303, "/connections/Shared/remove")
        page = admin.get("/connections/Shared/remove").text
        assert "Disconnected: OnShared" in page and "Remove connection" in page
        removed = admin.post("/connections/Shared/remove", data={"csrf_token": csrf_token(admin)})
        assert removed.status_code == 303
    with signed_in(base, "contributor") as contributor:
        page = contributor.get("/exports/OnShared").text
        assert 'id="disconnected"' in page and 'href="/exports/OnShared/edit"' in page
        assert 'action="/exports/OnShared/run"' not in page
        listing = contributor.get("/exports").text
        assert "Disconnected" in listing
        refused = contributor.post("/exports/OnShared/run", data={"csrf_token": csrf_token(contributor)})
        assert refused.status_code == 409 and "has no connection" in refused.text


def test_a_segment_is_downloaded_whole_and_duplicated_from_its_page(site: tuple[str, dict[str, int]]) -> None:
    base, _ = site
    with signed_in(base, "contributor") as client:
        page = client.get("/segments/Everyone").text
        assert 'href="/segments/Everyone/members.csv"' in page
        download = client.get("/segments/Everyone/members.csv")
        assert download.headers["content-type"].startswith("text/csv")
        assert 'filename="Everyone_members.csv"' in download.headers["content-disposition"]
        lines = download.text.splitlines()
        assert lines[0].startswith("customer_id,") and len(lines) == 1 + 20  # every profile is a member
        copied = client.post(
            "/segments/Everyone/duplicate", data={"new_name": "Everyone, again", "csrf_token": csrf_token(client)}
        )
        assert (copied.status_code, copied.headers["location"]) == (303, "/segments/Everyone%2C%20again")
        assert "a copy of &#39;Everyone&#39;" in client.get(copied.headers["location"]).text
    with signed_in(base, "viewer") as client:
        assert "members.csv" not in client.get("/segments/Everyone").text


def test_exports_chosen_in_the_list_are_scheduled_together(app: App, site: tuple[str, dict[str, int]]) -> None:
    base, _ = site
    with signed_in(base, "contributor") as client:
        listing = client.get("/exports").text
        assert 'name="exports" value="OnShared"' in listing and 'value="OnPrivate"' not in listing  # view only
        page = client.get("/exports/schedule", params={"exports": "OnShared"}).text
        assert 'id="chosen"' in page and "Keep or override their schedules" in page
        token = csrf_token(client)

        def save(**form: str) -> tuple[str, str | None]:
            answer = client.post("/exports/schedule", data={"exports": "OnShared", "csrf_token": token, **form})
            assert answer.status_code == 303, answer.text
            [item] = export_schedules(app.store, name="OnShared")
            return item.mode, item.schedule.describe() if item.schedule else None

        own = "daily at 06:30 (Europe/Paris)"
        assert save(choice="override", mode="own", kind="daily", times="6:30", timezone="Europe/Paris") == ("own", own)
        assert save(choice="disable") == ("off", None)
        assert save(choice="enable") == ("own", own)  # its own schedule came back


def test_a_segment_page_draws_its_member_count_trend_for_the_chosen_range(
    app: App, site: tuple[str, dict[str, int]]
) -> None:
    base, _ = site
    segment = show_segment(app.store, name="Everyone")
    with app.store.begin() as db:
        db.execute(
            insert(segment_counts).values(
                segment_id=segment.id, counted_at=datetime.now(UTC) - timedelta(days=20), members=11
            )
        )
    count_segment(app.store, name="Everyone")  # 20 now
    with signed_in(base, "viewer") as client:
        month = client.get("/segments/Everyone", params={"range": "30"}).text
        assert "<polyline" in month and "From 11 to 20 members, 2 counts" in month
        assert "<td>11</td>" in month and "<td>20</td>" in month
        week = client.get("/segments/Everyone", params={"range": "7"}).text
        # One count draws no line (a lone dot in an empty box): it is said in words.
        assert "One count in this range: 20 members" in week and "<polyline" not in week
        assert "<td>11</td>" not in week
        assert '<strong aria-current="true">7 days</strong>' in week


def test_refresh_now_is_queued_by_an_admin_and_its_status_is_shown_to_everyone(
    site: tuple[str, dict[str, int]],
) -> None:
    base, _ = site
    with signed_in(base, "admin") as admin:
        queued = admin.post("/schedule/refresh", data={"csrf_token": csrf_token(admin, "/runs")})
        assert (queued.status_code, queued.headers["location"]) == (303, "/runs#refreshes")
        page = admin.get("/runs").text
        assert "is queued: the segments are evaluated" in page
        assert 'action="/schedule/refresh"' in page
    with signed_in(base, "viewer") as viewer:
        page = viewer.get("/runs").text
        history = page[page.index('id="refresh-history"') :]
        assert "Refresh now</td>" in history and '<span class="status queued">Queued</span>' in history
        assert 'action="/schedule/refresh"' not in page  # only admins start one


def test_the_matrix_covers_every_page_and_form() -> None:
    """A page or form added without a row here would escape the role and no-session checks above."""
    declared = {
        (method, route.path)
        for module in (
            account,
            connection_pages,
            export_schedule_pages,
            export_pages,
            segment_pages,
            profiles,
            runs,
            schedule,
            user_pages,
        )
        for route in module.router.routes
        for method in getattr(route, "methods", ())
        if method in ("GET", "POST")
    }
    rows = [("GET", path) for path, _ in PAGES] + [("POST", path) for path, _, _ in FORMS]
    # Signing in and out need no session (their own tests are above); "/" only sends to the exports.
    public = {("GET", "/"), ("GET", "/sign-in"), ("POST", "/sign-in"), ("POST", "/sign-out")}
    missing = uncovered(declared - public, rows)
    assert not missing, listed(missing)


def test_a_mirror_run_may_be_allowed_a_mass_removal_in_the_browser(app: App, site: tuple[str, dict[str, int]]) -> None:
    from sqlalchemy import select

    from segport.exports import service as export_service
    from segport.exports.mirror import MASS_REMOVAL_FIX
    from segport.store.tables import runs

    base, _ = site
    export_service.edit_export(app.store, app.settings, name="OnShared", mode="mirror", actor="t", http=app.http)
    with signed_in(base, "contributor") as contributor:
        page = contributor.get("/exports/OnShared").text
        assert 'name="allow_mass_removal"' in page  # mirror exports offer it beside Run
        token = csrf_token(contributor)
        ran = contributor.post("/exports/OnShared/run", data={"csrf_token": token, "allow_mass_removal": "on"})
        assert ran.status_code == 303
        run_id = int(ran.headers["location"].rsplit("/", 1)[1])
        with app.store.read() as db:
            assert db.execute(select(runs.c.allow_mass_removal).where(runs.c.id == run_id)).scalar_one() is True
        with app.store.begin() as db:  # as a run that refused a mass removal ends
            db.execute(
                runs.update()
                .where(runs.c.id == run_id)
                .values(status="Failure", message=f"This mirror run would remove 9 of 10. {MASS_REMOVAL_FIX}.")
            )
        shown = contributor.get(f"/runs/{run_id}").text
        assert "Tick &#39;Allow a mass removal&#39; beside Run" in shown and "--allow-mass-removal" not in shown
    with signed_in(base, "admin") as admin:
        assert 'name="allow_mass_removal"' not in admin.get("/exports/OnPrivate").text  # an add export: no such box
