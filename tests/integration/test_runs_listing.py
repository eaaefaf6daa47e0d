"""The runs history through the API and the CLI's service: filters before the limit, and a cursor that pages
through every run exactly once, newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert, select

from segport.runs.history import list_runs
from segport.server.app import create_app
from segport.store.tables import runs
from segport.users import service as users
from tests.support.app import App
from tests.support.exporting import ExportWorld
from tests.support.server import serving_app


def many_runs(app: App, tmp_path: Path) -> list[int]:
    """One real run, then 129 recorded ones: the 9 oldest failed, the 120 newer succeeded."""
    app.connect("CC")
    first = ExportWorld(app, tmp_path, count=20, threshold=100).run()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with app.store.begin() as db:
        export_id = db.execute(select(runs.c.export_id).where(runs.c.id == first.id)).scalar_one()
        for number in range(129):
            db.execute(
                insert(runs).values(
                    export_id=export_id,
                    status="Failure" if number < 9 else "Successful",
                    trigger="schedule",
                    triggered_by="scheduler",
                    created_at=start + timedelta(minutes=number),
                    message="refused" if number < 9 else None,
                )
            )
        return list(db.execute(select(runs.c.id).order_by(runs.c.id.desc())).scalars())


def follow(api: httpx.Client, url: str) -> tuple[list[int], int]:
    """Every id the pages hold, following the Link headers, and how many pages there were."""
    seen: list[int] = []
    pages = 0
    next_url: str | None = url
    while next_url is not None:
        answer = api.get(next_url)
        assert answer.status_code == 200, answer.text
        seen += [item["id"] for item in answer.json()]
        next_url = answer.links.get("next", {}).get("url")
        pages += 1
    return seen, pages


def test_a_status_filter_finds_old_runs_beyond_the_latest_page(app: App, tmp_path: Path) -> None:
    every = many_runs(app, tmp_path)
    failures = list_runs(app.store, status="Failure", limit=50)
    assert len(failures) == 9 and all(view.status == "Failure" for view in failures)
    assert [view.id for view in failures] == sorted((view.id for view in failures), reverse=True)
    assert [view.id for view in list_runs(app.store, before=every[10], limit=3)] == every[11:14]


def test_the_api_pages_by_cursor_through_every_run_once(app: App, tmp_path: Path) -> None:
    every = many_runs(app, tmp_path)
    token = users.issue_token(
        app.store, name=users.add_user(app.store, name="ada", role="viewer", actor="t").name, label="t", actor="t"
    )[1]
    with (
        serving_app(create_app(app.settings, app.store, app.http)) as base,
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as api,
    ):
        seen, pages = follow(api, "/api/runs?limit=40")
        assert seen == every and pages == 4  # 130 runs: 40 + 40 + 40 + 10, the last page has no next link

        failed = api.get("/api/runs", params={"status": "Failure", "limit": 5})
        assert [run["status"] for run in failed.json()] == ["Failure"] * 5
        rest = api.get(failed.links["next"]["url"]).json()  # the cursor keeps the filter
        assert [run["status"] for run in rest] == ["Failure"] * 4
        assert api.get("/api/runs", params={"status": "Lost"}).status_code == 422
        assert api.get("/api/runs", params={"limit": 501}).status_code == 422
        assert api.get("/api/runs", params={"before": 0}).status_code == 422
        newest = api.get("/api/runs", params={"limit": 1}).json()[0]
        assert newest["created_at"].endswith("Z") and set(newest["counts"]) >= {"members", "sent", "errors"}


def test_the_runs_page_filters_before_it_pages_and_pages_back_through_every_run(app: App, tmp_path: Path) -> None:
    import re

    from tests.support.web import PASSWORD, signed_in

    every = many_runs(app, tmp_path)
    users.add_user(app.store, name="vic", role="viewer", actor="t", password=PASSWORD)
    with serving_app(create_app(app.settings, app.store, app.http)) as base, signed_in(base, "vic", PASSWORD) as web:
        seen: list[int] = []
        url: str | None = "/runs"
        while url is not None:
            page = web.get(url).text
            seen += [int(found) for found in re.findall(r'<td><a href="/runs/(\d+)">', page)]
            older = re.search(r'<a href="(/runs\?[^"]+)" rel="next">Older runs</a>', page)
            url = older.group(1).replace("&amp;", "&") if older else None
        assert seen == every  # 130 runs, 50 a page: each once, newest first
        failures = web.get("/runs", params={"status": "Failure"}).text
        assert len(re.findall(r'<td><a href="/runs/(\d+)">', failures)) == 9  # all nine, though older than 50
        assert "Older runs" not in failures
        assert web.get("/runs", params={"status": "Lost", "before": "x"}).status_code == 200  # ignored, not a 500
        title = re.search(r"<title>(.*?)</title>", page, re.S)
        assert title is not None and "<" not in title.group(1)  # the refreshes were once inside the title
        assert 'id="refreshes"' in page.split("<main", 1)[1]


def test_the_audit_trail_and_the_alerts_sent_page_by_cursor(app: App) -> None:
    from segport import audit
    from segport.alerting import channels
    from segport.store.tables import alerts_sent

    admin = users.add_user(app.store, name="ada", role="admin", actor="t")
    for number in range(23):
        users.add_user(app.store, name=f"user{number}", role="viewer", actor="ada")
    with app.store.begin() as db:
        for number in range(7):
            db.execute(
                insert(alerts_sent).values(
                    channel_id=None,
                    run_id=None,
                    kind="chat",
                    shown="hooks.example.com",
                    subject=f"alert {number}",
                    delivered=True,
                    detail=None,
                    test=True,
                    sent_at=datetime(2026, 12, 1, tzinfo=UTC) + timedelta(minutes=number),
                )
            )
    token = users.issue_token(app.store, name=admin.name, label="t", actor="t")[1]
    every_entry = [entry.id for entry in audit.entries(app.store, limit=1000)]
    every_alert = [item.id for item in channels.list_sent(app.store, limit=1000)]
    with (
        serving_app(create_app(app.settings, app.store, app.http)) as base,
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as api,
    ):
        seen, pages = follow(api, "/api/audit?limit=10")
        assert seen == every_entry and len(every_entry) >= 24 and pages == len(every_entry) // 10 + 1
        created, pages = follow(api, "/api/audit?limit=5&action=user.created")  # the filter is kept across pages
        assert len(created) == 24 and pages == 5
        assert created == [entry.id for entry in audit.entries(app.store, limit=1000, action="user.created")]
        assert follow(api, "/api/alerts/sent?limit=3") == (every_alert, 3)  # 3 + 3 + 1
        assert api.get("/api/audit", params={"limit": 0}).status_code == 422
        assert api.get("/api/alerts/sent", params={"before": -1}).status_code == 422
