"""Attacks on the API and the pages, by every role and anonymously, beside the permission matrices.

Each case was found by trying: a viewer reading a customer's email through the builder's estimate, anonymous
bodies of hundreds of megabytes, a cron date that never comes, forty wrong passwords at once, formulas in CSV
cells, webhooks aimed inside the network, a private connection's export opened up by disconnecting it, tokens
and rules in the access log, metrics for anyone, /docs without headers, a name with a slash.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import socket
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select, update

from segport.api.access_log import RedactQueries
from segport.connections import service as connections
from segport.errors import InvalidInput
from segport.exports import service as exports
from segport.exports.launch import run_export
from segport.profiles.importer import import_profiles
from segport.runs import queue
from segport.runs.history import rows_csv
from segport.scheduling.calendar import make_schedule
from segport.scheduling.scheduler import tick_once
from segport.segments.service import create_segment
from segport.server.app import create_app
from segport.store.tables import audit
from segport.store.tables import exports as exports_table
from segport.users import service as users
from tests.support.app import App
from tests.support.server import serving_app

ROLES = ("admin", "contributor", "viewer")
PASSWORD = "a long enough password"


@pytest.fixture
def site(app: App, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    app.exports_on_shared_and_private(tmp_path)
    tokens = {}
    for role in ROLES:
        users.add_user(app.store, name=role, role=role, actor="t", password=PASSWORD)
        tokens[role] = users.issue_token(app.store, name=role, label="attacks", actor="t")[1]
    with serving_app(create_app(app.settings, app.store, app.http)) as base:
        yield base, tokens


@contextmanager
def browser(base: str, name: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, timeout=30) as client:
        answer = client.post("/sign-in", data={"name": name, "password": PASSWORD, "next": "/runs"})
        assert answer.status_code == 303, answer.text
        yield client


def csrf(client: httpx.Client, path: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found is not None
    return found.group(1)


def test_a_viewer_cannot_probe_customer_data_through_the_estimate(site: tuple[str, dict[str, str]]) -> None:
    base, _ = site
    rule = 'email starts with "c"'
    for role, expected in (("admin", 200), ("contributor", 200), ("viewer", 403)):
        with browser(base, role) as client:
            assert client.get("/segments/estimate", params={"rule": rule}).status_code == expected, role
    with httpx.Client(base_url=base) as anonymous:
        assert anonymous.get("/segments/estimate", params={"rule": rule}).status_code == 303


def _raw_post(base: str, path: str, headers: dict[str, str], body_bytes: int) -> tuple[int, float]:
    """POST with a declared body of `body_bytes` but send only its headers: (status, seconds to the answer)."""
    import time

    parts = urlsplit(base)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as raw:
        lines = [f"POST {path} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {body_bytes}"]
        lines += [f"{key}: {value}" for key, value in headers.items()]
        started = time.monotonic()
        raw.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + b"{")  # one byte of the body, never the rest
        answer = raw.recv(4096).decode("latin-1")
        return int(answer.split(" ", 2)[1]), time.monotonic() - started


def test_an_anonymous_body_is_refused_before_it_is_read_and_every_body_has_a_cap(
    site: tuple[str, dict[str, str]],
) -> None:
    base, tokens = site
    json = {"Content-Type": "application/json"}
    status, seconds = _raw_post(base, "/api/segments", json, 150_000_000)  # anonymous 150 MB: no token
    assert (status, seconds < 5) == (413, True)  # over the cap: refused from its declared length alone
    status, _ = _raw_post(base, "/api/segments", json, 50_000)
    assert status == 401  # under the cap, anonymous: refused before a byte more is read
    status, _ = _raw_post(base, "/api/profiles", {"Content-Type": "multipart/form-data; boundary=x"}, 300_000_000)
    assert status == 401  # an anonymous upload is not spooled to a temporary file first
    status, _ = _raw_post(base, "/exports/OnShared/run", {"Content-Type": "application/x-www-form-urlencoded"}, 50)
    assert status == 303  # a form without a session goes to the sign-in page, unread
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {tokens['admin']}"}) as admin:
        big = admin.post("/api/segments", content=b"{" + b" " * 2_000_000 + b"}", headers=json)
        assert big.status_code == 413 and "too large" in big.json()["title"]
        streamed = admin.post("/api/segments", content=iter([b"{", b" " * 1_500_000, b"}"]), headers=json)
        assert streamed.status_code == 413  # no declared length: cut off while it streams


def test_a_cron_date_that_never_comes_is_refused_and_cannot_stop_the_pages(
    site: tuple[str, dict[str, str]], app: App
) -> None:
    base, tokens = site
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {tokens['contributor']}"}) as contributor:
        answer = contributor.put(
            "/api/exports/OnShared/schedule", json={"mode": "own", "kind": "cron", "cron": "0 0 31 2 *"}
        )
        assert answer.status_code == 422 and "never fires" in answer.json()["detail"], answer.text
    with pytest.raises(InvalidInput, match="never fires"):
        make_schedule(kind="cron", cron="0 0 31 2 *")
    # One saved by an older segport: the scheduler skips it, the pages still answer.
    with app.store.begin() as db:
        db.execute(
            update(exports_table)
            .where(exports_table.c.name == "OnShared")
            .values(schedule_mode="own", schedule_spec='{"kind": "cron", "cron": "0 0 31 2 *", "timezone": "UTC"}')
        )
    assert tick_once(app.store, app.settings, "scheduler:1:x") == []
    with browser(base, "admin") as client:
        assert client.get("/exports").status_code == 200 and client.get("/schedule").status_code == 200


def test_forty_wrong_passwords_at_once_are_counted_before_the_pause_is_checked(
    site: tuple[str, dict[str, str]], app: App
) -> None:
    base, _ = site
    answers: list[int] = []

    def guess() -> None:
        with httpx.Client(base_url=base, timeout=60) as client:
            answers.append(client.post("/sign-in", data={"name": "viewer", "password": "wrong guess 123"}).status_code)

    threads = [threading.Thread(target=guess) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with app.store.read() as db:
        checked = db.execute(
            select(func.count()).where(audit.c.action == "user.sign_in_failed", audit.c.subject == "viewer")
        ).scalar_one()
    assert checked == app.settings.sign_in_attempts, answers  # five checked; the other 35 refused unchecked
    with httpx.Client(base_url=base) as client:  # and the right password now waits for the pause too
        refused = client.post("/sign-in", data={"name": "viewer", "password": PASSWORD})
        assert refused.status_code != 303 and "paused" in refused.text


def test_csv_cells_a_spreadsheet_would_run_are_neutralised(app: App, tmp_path: Path) -> None:
    path = tmp_path / "formulas.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "email", "note"])
        for number, cell in enumerate(['=HYPERLINK("http://x")', "+1+1", "-2", "@SUM(A1)", "\tx", "plain"]):
            writer.writerow([f"k{number}", cell if number < 3 else f"p{number}@example.com", cell])
    import_profiles(app.store, path, key="id", actor="t")
    app.connect("CC")
    create_segment(app.store, name="All", rule_text="id is not empty", actor="t")
    app.add_export("E", "CC", ["All"])
    run_id = run_export(app.store, app.settings, name="E", actor="t", http=app.http)
    text = "".join(rows_csv(app.store, run_id=run_id))
    emails = [row["email"] for row in csv.DictReader(io.StringIO(text))]
    assert emails and all(not email.startswith(("=", "+", "-", "@")) for email in emails), emails
    assert "'=hyperlink" in text and "'+1+1" in text  # emails are lower-cased
    raw = "".join(rows_csv(app.reopen(csv_raw=True).store, run_id=run_id))
    assert '"=hyperlink' in raw and ",+1+1," in raw  # as they were, when asked for


def test_webhooks_must_point_outside_and_their_urls_stay_out_of_run_events(app: App) -> None:
    app.connect("CC")
    for target in ("http://127.0.0.1:8080/x", "http://169.254.169.254/latest/meta-data", "http://10.1.2.3/h"):
        with pytest.raises(InvalidInput, match="internal address"):
            connections.set_webhook(app.store, name="CC", url=target, actor="t")
    allowed = app.reopen(webhook_allow_internal=True)
    connections.set_webhook(allowed.store, name="CC", url="http://127.0.0.1:9/hook?token=s3cret", actor="t")
    from segport.webhook_targets import shown

    assert shown("https://hooks.example.com/services/T000/B000/s3cret") == "https://hooks.example.com/…"


def test_a_disconnected_export_keeps_its_connections_access_rules(site: tuple[str, dict[str, str]], app: App) -> None:
    base, tokens = site
    for run_id in (1, 2):  # the fixture queued a run of each
        queue.cancel(app.store, run_id=run_id, actor="admin")
    exports.disconnect_exports(app.store, names=["OnPrivate", "OnShared"], actor="admin")
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {tokens['contributor']}"}) as contributor:
        assert contributor.delete("/api/exports/OnPrivate").status_code == 403
        assert contributor.post("/api/exports/OnPrivate/duplicate", json={"new_name": "Mine"}).status_code == 403
        assert contributor.get("/api/runs/2/rows.csv").status_code == 403
        assert contributor.patch("/api/exports/OnShared", json={"mode": "add"}).status_code == 200  # was shared
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {tokens['admin']}"}) as admin:
        assert admin.patch("/api/exports/OnPrivate", json={"mode": "add"}).status_code == 200


def test_the_access_log_keeps_no_code_state_rule_or_token() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1", "GET", "/oauth/callback?code=abc&state=def&x=1", "1.1", 200),
        None,
    )
    assert RedactQueries().filter(record)
    assert "abc" not in record.getMessage() and "def" not in record.getMessage() and "x=1" in record.getMessage()


def test_metrics_need_a_token_unless_made_public(site: tuple[str, dict[str, str]], app: App) -> None:
    base, tokens = site
    with httpx.Client(base_url=base) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": f"Bearer {tokens['viewer']}"}).status_code == 200
    with serving_app(
        create_app(app.reopen(metrics_token=SecretStr("scrape-me")).settings, app.store, app.http)
    ) as other:
        assert httpx.get(f"{other}/metrics", headers={"Authorization": "Bearer scrape-me"}).status_code == 200
    with serving_app(create_app(app.reopen(metrics_public=True).settings, app.store, app.http)) as public:
        assert httpx.get(f"{public}/metrics").status_code == 200


def test_docs_carry_the_security_headers(site: tuple[str, dict[str, str]]) -> None:
    base, _ = site
    answer = httpx.get(f"{base}/docs")
    assert (
        answer.headers["X-Frame-Options"] == "DENY"
        and "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
    )


@pytest.mark.parametrize("name", ["a/b", "line\nbreak", "tab\there", "  ", "\u202eTSIL PIV", "VIP \u2067x\u2069"])
def test_names_that_no_address_could_reach_or_that_show_as_another_are_refused(app: App, name: str) -> None:
    app.load_profiles(Path(app.settings.home), 10)
    with pytest.raises(InvalidInput, match="cannot hold '/'|needs a name|reorder the text shown"):
        create_segment(app.store, name=name, rule_text="customer_id is not empty", actor="t")


def test_the_data_folder_and_database_are_owner_only(app: App) -> None:
    if app.store.dialect != "sqlite":
        pytest.skip("the PostgreSQL server keeps its own files")
    home = Path(app.settings.home)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "segport.db").stat().st_mode) == 0o600
