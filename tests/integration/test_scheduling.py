"""The scheduler, the queue and workers in one process (SQLite and PostgreSQL); several processes: tests/e2e."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import orjson
import pytest
from sqlalchemy import select, update

from segport import audit
from segport.emulator.serve import free_port
from segport.errors import InvalidInput, Refused, UnknownName
from segport.exports import launch
from segport.exports import service as exports
from segport.runs import queue
from segport.runs.history import list_runs, show_run
from segport.runs.record import RunRecord
from segport.scheduling import worker
from segport.scheduling.calendar import make_schedule, next_fire
from segport.scheduling.refreshes import list_refreshes, refresh_now
from segport.scheduling.scheduler import tick_once
from segport.scheduling.service import (
    export_schedules,
    run_all,
    schedule_exports,
    set_export_schedule,
    set_system_schedule,
)
from segport.scheduling.worker import work_once
from segport.segments.service import create_segment, edit_segment, show_segment
from segport.store.tables import refreshes, runs, sync_state
from tests.support.app import App


@pytest.fixture
def scheduled(app: App, tmp_path: Path) -> App:
    app.connect("CC")
    app.load_profiles(tmp_path, 30)
    create_segment(app.store, name="Everyone", rule_text="customer_id is not empty", actor="t")
    for name in ("A", "B", "C"):
        exports.add_export(
            app.store,
            app.settings,
            name=name,
            connection="CC",
            list_id=app.emulator.create_list(f"List {name}"),
            email_field="email",
            segment_names=["Everyone"],
            actor="t",
            http=app.http,
        )
    return app


def work_all(app: App, owner: str = "here:0:w") -> int:
    """Let one worker work until nothing is left; returns how many claims it worked."""
    worked = 0
    while work_once(app.store, app.settings, f"{owner}{worked}", threading.Event(), app.http):
        worked += 1
    return worked


def due_moment(app: App) -> datetime:
    from segport.scheduling.service import show_system_schedule

    schedule = show_system_schedule(app.store)
    assert schedule is not None
    moment = next_fire(schedule, datetime.now(UTC))
    assert moment is not None
    return moment + timedelta(seconds=30)


def test_a_refresh_tick_is_taken_once_evaluates_segments_then_runs_every_following_export(scheduled: App) -> None:
    app = scheduled
    set_export_schedule(app.store, name="C", mode="off", actor="t")
    set_system_schedule(app.store, make_schedule(kind="daily", times=["06:00"], timezone="America/Toronto"), actor="t")
    moment = due_moment(app)
    first = tick_once(app.store, app.settings, "scheduler-1", now=moment)
    second = tick_once(app.store, app.settings, "scheduler-2", now=moment)
    assert len(first) == 1 and first[0].startswith("refresh@") and second == []
    assert list_runs(app.store) == []  # exports wait for the segment evaluation
    assert work_all(app) == 3  # the refresh, then A and B
    assert show_segment(app.store, name="Everyone").member_count == 30
    with app.store.begin() as db:
        assert db.execute(select(refreshes.c.status)).scalars().all() == ["Successful"]
    done = list_runs(app.store)
    assert sorted(view.export for view in done) == ["A", "B"]
    assert all(view.status == "Successful" and view.trigger == "schedule" for view in done)
    # The same moment again (a scheduler that restarted) queues nothing more.
    assert tick_once(app.store, app.settings, "scheduler-3", now=moment) == []


def test_refresh_now_is_worked_like_a_scheduled_refresh_and_both_show_in_the_history(scheduled: App) -> None:
    app = scheduled
    set_export_schedule(app.store, name="C", mode="off", actor="t")
    queued, joined = refresh_now(app.store, actor="ada")
    assert not joined and refresh_now(app.store, actor="bob") == (queued, True)  # one at a time
    assert work_all(app) == 3  # the refresh, then A and B (C runs only on demand)
    done = list_runs(app.store)
    assert sorted((view.export, view.trigger, view.status) for view in done) == [
        ("A", "manual", "Successful"),
        ("B", "manual", "Successful"),
    ]
    set_system_schedule(app.store, make_schedule(kind="daily", times=["06:00"]), actor="t")
    tick_once(app.store, app.settings, "scheduler", now=due_moment(app))
    work_all(app)
    latest, first = list_refreshes(app.store)
    assert (first.id, first.trigger, first.status) == (queued, "manual", "Successful")
    assert first.message == "1 segment evaluated; 2 exports queued."
    assert (latest.trigger, latest.status) == ("schedule", "Successful")
    assert latest.duration_seconds is not None and latest.duration_seconds >= 0
    assert [entry.action for entry in audit.entries(app.store, action="refresh.queued")] == ["refresh.queued"]


def test_an_export_with_its_own_schedule_is_queued_by_its_own_ticks(scheduled: App) -> None:
    app = scheduled
    own = set_export_schedule(
        app.store,
        name="B",
        mode="own",
        actor="t",
        schedule=make_schedule(kind="weekly", days=["tue"], times=["09:15"]),
    )
    assert own.next_at is not None and own.next_at.weekday() == 1
    taken = tick_once(app.store, app.settings, "s", now=own.next_at + timedelta(minutes=1))
    assert taken == [f"export:{exports.show_export(app.store, name='B').id}@{own.next_at.isoformat()}"]
    [queued] = list_runs(app.store)
    assert (queued.export, queued.status) == ("B", "Queued")
    # Too late: a tick missed by more than the catch-up window is skipped, not run late.
    assert tick_once(app.store, app.settings, "s", now=own.next_at + timedelta(days=7, hours=2)) == []


def test_run_all_queues_only_exports_with_an_active_schedule(scheduled: App) -> None:
    app = scheduled
    assert run_all(app.store, actor="t") == []  # the system refresh is off and nobody has an own schedule
    set_export_schedule(
        app.store, name="A", mode="own", schedule=make_schedule(kind="cron", cron="0 * * * *"), actor="t"
    )
    set_system_schedule(app.store, make_schedule(kind="daily", times=["06:00"]), actor="t")
    set_export_schedule(app.store, name="C", mode="off", actor="t")
    queued = run_all(app.store, actor="t")
    assert sorted((name, joined) for name, _, joined in queued) == [("A", False), ("B", False)]
    again = run_all(app.store, actor="t")
    assert sorted((name, joined) for name, _, joined in again) == [("A", True), ("B", True)]
    assert {item.export: item.active for item in export_schedules(app.store)} == {"A": True, "B": True, "C": False}
    with pytest.raises(InvalidInput, match="needs its times"):
        set_export_schedule(app.store, name="A", mode="own", actor="t")


def test_several_exports_keep_their_own_schedules_when_turned_off_and_on_or_all_get_a_new_one(
    scheduled: App,
) -> None:
    app = scheduled
    hourly = make_schedule(kind="cron", cron="0 * * * *", timezone="America/Toronto")
    set_export_schedule(app.store, name="A", mode="own", schedule=hourly, actor="t")  # B and C follow the refresh

    def modes() -> dict[str, tuple[str, str | None]]:
        return {
            item.export: (item.mode, item.schedule.describe() if item.schedule else None)
            for item in export_schedules(app.store)
        }

    schedule_exports(app.store, names=["A", "B"], enable=False, actor="t")
    assert modes() == {"A": ("off", None), "B": ("off", None), "C": ("refresh", None)}
    assert tick_once(app.store, app.settings, "t", datetime.now(UTC) + timedelta(hours=2)) == []  # A is off
    schedule_exports(app.store, names=["A", "B", "C"], enable=True, actor="t")  # C was on: it stays as it was
    assert modes() == {
        "A": ("own", "cron '0 * * * *' (America/Toronto)"),
        "B": ("refresh", None),
        "C": ("refresh", None),
    }
    daily = make_schedule(kind="daily", times=["07:15"], timezone="Europe/Paris")
    items = schedule_exports(app.store, names=["C", "A"], mode="own", schedule=daily, actor="t")
    assert [item.export for item in items] == ["C", "A"]
    assert modes()["A"] == modes()["C"] == ("own", "daily at 07:15 (Europe/Paris)")
    with pytest.raises(UnknownName):
        schedule_exports(app.store, names=["B", "Nobody"], mode="off", actor="t")
    assert modes()["B"] == ("refresh", None)  # all or none
    with pytest.raises(InvalidInput, match="Choose one"):
        schedule_exports(app.store, names=["B"], mode="off", enable=True, actor="t")
    with pytest.raises(InvalidInput, match="Choose one"):
        schedule_exports(app.store, names=["B"], actor="t")
    with pytest.raises(InvalidInput, match="No export was chosen"):
        schedule_exports(app.store, names=[], enable=True, actor="t")


def test_cancel_a_queued_run_and_a_processing_one_between_batches(scheduled: App) -> None:
    app = scheduled.reopen(batch_max_contacts=5)
    export = exports.show_export(app.store, name="A")
    run_id, _ = queue.enqueue(app.store, export.id, trigger="manual", actor="t")
    assert queue.cancel(app.store, run_id=run_id, actor="t") == "canceled"
    assert show_run(app.store, run_id=run_id).status == "Canceled"
    with pytest.raises(Refused, match="already ended"):
        queue.cancel(app.store, run_id=run_id, actor="t")

    run_id, _ = queue.enqueue(app.store, export.id, trigger="manual", actor="t")
    claimed = queue.claim(app.store, "here:0:x", 60, run_id=run_id)
    assert claimed is not None and (claimed.run_id, claimed.attempts) == (run_id, 1)
    assert queue.cancel(app.store, run_id=run_id, actor="t") == "requested"
    launch.execute_run(app.store, app.settings, claimed, "here:0:x", actor="t", http=app.http)
    view = show_run(app.store, run_id=run_id)
    assert view.status == "Canceled", view.message
    assert len(view.batches) == 1 and view.batches[0]["state"] == "completed"  # stopped after the first batch
    listed = app.emulator.members(export.list_id)
    with app.store.begin() as db:
        recorded = db.execute(select(sync_state.c.email).where(sync_state.c.export_id == export.id)).scalars().all()
    assert len(listed) == 5 and set(recorded) == set(listed)  # what was sent is recorded
    # The next run sends the rest, not the first batch again.
    rest = show_run(app.store, run_id=launch.run_export(app.store, app.settings, name="A", actor="t", http=app.http))
    assert rest.status == "Successful" and rest.counts["added"] == rest.counts["sent"] == rest.counts["members"] - 5 - (
        rest.counts["invalid_email"] + rest.counts["duplicate"]
    )


def test_a_worker_shutting_down_hands_its_run_back_and_the_next_resumes_it(scheduled: App) -> None:
    app = scheduled.reopen(batch_max_contacts=5)
    export = exports.show_export(app.store, name="A")
    run_id, _ = queue.enqueue(app.store, export.id, trigger="manual", actor="t")
    shutdown = threading.Event()
    shutdown.set()  # SIGTERM arrived: the run stops at its first batch boundary
    assert work_once(app.store, app.settings, "here:0:a", shutdown, app.http)
    view = show_run(app.store, run_id=run_id)
    assert view.status == "Queued" and len(view.batches) == 1
    assert work_once(app.store, app.settings, "here:0:b", threading.Event(), app.http)
    view = show_run(app.store, run_id=run_id)
    assert view.status == "Successful", view.message
    assert any("Resumed by here:0:b" in item["message"] for item in view.events)
    imports = app.emulator.request_count("bulkImportContactsJSON", 201)
    assert imports == len(view.batches)  # no accepted batch was sent twice
    with app.store.begin() as db:
        assert db.execute(select(runs.c.attempts).where(runs.c.id == run_id)).scalar_one() == 2


def test_a_run_whose_lease_expired_is_taken_over(scheduled: App) -> None:
    app = scheduled
    export = exports.show_export(app.store, name="B")
    run_id, _ = queue.enqueue(app.store, export.id, trigger="manual", actor="t")
    first = queue.claim(app.store, "far-away:1:a", 60)
    assert first is not None and (first.run_id, first.attempts) == (run_id, 1)
    assert queue.claim(app.store, "far-away:2:b", 60) is None  # held
    with app.store.begin() as db:
        db.execute(update(runs).where(runs.c.id == run_id).values(lease_expires_at=datetime.now(UTC) - timedelta(1)))
    second = queue.claim(app.store, "far-away:2:b", 60)
    assert second is not None and (second.run_id, second.attempts) == (run_id, 2)
    assert second.generation == first.generation + 1
    # The first owner learns it lost the run at its next write; the second writes on.
    assert not RunRecord(app.store, run_id, first.generation, 60).renew()
    assert RunRecord(app.store, run_id, second.generation, 60).renew()


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, object]]] = []
    answers: ClassVar[list[int]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(orjson.loads(body))
        self.send_response(_Hook.answers.pop(0) if _Hook.answers else 204)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        return


def test_a_failed_run_calls_the_webhook_and_retries_it(scheduled: App) -> None:
    port = free_port()
    server = HTTPServer(("127.0.0.1", port), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Hook.received, _Hook.answers = [], [503]  # down once, then up
    try:
        app = scheduled.reopen(webhook_backoff_seconds=0.05, webhook_allow_internal=True)  # a local test server
        from segport.connections.service import set_webhook

        set_webhook(app.store, name="CC", url=f"http://127.0.0.1:{port}/hook", actor="t")
        app.emulator.faults.add("imports#1=400")
        run_id = launch.run_export(app.store, app.settings, name="A", actor="t", http=app.http)
        assert show_run(app.store, run_id=run_id).status == "Failure"
        assert len(_Hook.received) == 2
        summary = _Hook.received[-1]
        assert (summary["run_id"], summary["export"], summary["status"]) == (run_id, "A", "Failure")
        assert "400" in str(summary["message"])
        assert any("notified" in item["message"] for item in show_run(app.store, run_id=run_id).events)
        # A successful run calls nobody.
        ok = launch.run_export(app.store, app.settings, name="B", actor="t", http=app.http)
        assert show_run(app.store, run_id=ok).status == "Successful" and len(_Hook.received) == 2
    finally:
        server.shutdown()
        server.server_close()


def test_a_successful_run_that_looks_wrong_raises_alerts_on_the_run_and_the_webhook(
    scheduled: App, tmp_path: Path
) -> None:
    port = free_port()
    server = HTTPServer(("127.0.0.1", port), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Hook.received, _Hook.answers = [], []
    try:
        scheduled.load_profiles(tmp_path, 300)
        app = scheduled.reopen(
            webhook_url=f"http://127.0.0.1:{port}/hook", webhook_allow_internal=True, alert_refused_share=0.5
        )

        def run_a(with_settings: App) -> tuple[list[str], list[dict[str, object]]]:
            run_id = launch.run_export(with_settings.store, with_settings.settings, name="A", actor="t", http=app.http)
            view = show_run(app.store, run_id=run_id)
            assert view.status == "Successful", view.message
            return [e["message"] for e in view.events if e["message"].startswith("Alert:")], _Hook.received[-1:]

        assert run_a(app) == ([], [])  # the first run: nothing to compare with, few refused
        edit_segment(app.store, name="Everyone", rule_text='country = "CA"', actor="t")
        raised, [summary] = run_a(app)
        assert len(raised) == 1 and "fewer than at run" in raised[0], raised
        assert (summary["status"], summary["alerts"]) == ("Successful", [raised[0].removeprefix("Alert: ")])
        strict = app.reopen(alert_refused_share=0.001, alert_member_change_share=0)
        view = show_run(
            strict.store, run_id=launch.run_export(strict.store, strict.settings, name="A", actor="t", http=app.http)
        )
        assert view.counts["invalid_email"] > 0
        [alert] = [e["message"] for e in view.events if e["message"].startswith("Alert:")]
        assert "had an invalid email or an unusable key, or were refused by Constant Contact" in alert
        assert len(_Hook.received) == 2
    finally:
        server.shutdown()
        server.server_close()


def test_a_workers_json_log_lines_name_the_run_they_are_about(scheduled: App) -> None:
    from tests.support.logs import json_lines

    with json_lines("segport") as parsed:
        export = exports.show_export(scheduled.store, name="B")
        run_id, _ = queue.enqueue(scheduled.store, export.id, trigger="manual", actor="t")
        assert work_once(scheduled.store, scheduled.settings, "here:0:log", threading.Event(), scheduled.http)
    working = [item for item in parsed if item["message"].startswith(f"Working run {run_id} ")]
    assert working and working[0]["run_id"] == run_id and working[0]["logger"] == "segport.scheduling.worker"


def test_a_refresh_that_meets_an_unexpected_error_ends_failure_naming_it_and_the_next_one_works(
    scheduled: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = scheduled

    def broken(*_args: object, **_kwargs: object) -> int:
        raise RuntimeError("the count went wrong\nsecond line, not shown")

    monkeypatch.setattr(worker, "count_segment", broken)
    failed_id, _ = refresh_now(app.store, actor="t")
    assert work_once(app.store, app.settings, "w", threading.Event()) is True
    [failed] = list_refreshes(app.store)
    assert (failed.id, failed.status) == (failed_id, "Failure")
    assert "(RuntimeError: the count went wrong)" in (failed.message or "") and "second" not in (failed.message or "")
    assert list_runs(app.store) == []  # nothing queued after it
    assert work_once(app.store, app.settings, "w", threading.Event()) is False  # not claimed again
    monkeypatch.undo()
    refresh_now(app.store, actor="t")
    work_all(app)
    assert list_refreshes(app.store)[0].status == "Successful"
