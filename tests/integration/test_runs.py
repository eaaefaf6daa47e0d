"""Export runs end to end against the emulator, on SQLite and PostgreSQL: counts, reasons, limits, resume."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from segport.exports import launch
from segport.exports import service as exports
from segport.exports.normalize import normalize_email
from segport.runs import queue
from segport.runs.history import iter_rows_not_sent, list_runs, rows_csv, show_run
from segport.segments.membership import count_segment
from segport.segments.service import create_segment, set_active
from segport.store.tables import run_batches, runs
from tests.support.app import App


class Crash(BaseException):
    """Stands for the process dying: nothing in segport catches it."""


class CrashOnImport(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport, crash_at: int) -> None:
        self.inner = inner
        self.crash_at = crash_at
        self.imports = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/contacts_json_import"):
            self.imports += 1
            if self.imports == self.crash_at:
                raise Crash
        return self.inner.handle_request(request)


def expected_emails(profiles: Path, country: str = "CA") -> set[str]:
    """Computed apart from segport's own code path: the valid, distinct emails of the segment's profiles."""
    with profiles.open(encoding="utf-8") as handle:
        emails = {normalize_email(row["Email"]) for row in csv.DictReader(handle) if row["Country"] == country}
    return {email for email, problem in emails if problem is None}


@pytest.fixture
def exporting(app: App, tmp_path: Path) -> tuple[App, Path, str]:
    small = app.reopen(batch_max_contacts=100)
    profiles = small.load_profiles(tmp_path, 600)
    create_segment(small.store, name="Canada", rule_text='country = "CA"', actor="t")
    small.connect("CC")
    list_id = small.emulator.create_list("Target")
    exports.add_export(
        small.store,
        small.settings,
        name="E",
        connection="CC",
        list_id=list_id,
        email_field="email",
        first_name_field="first_name",
        last_name_field="last_name",
        segment_names=["Canada"],
        actor="t",
        http=small.http,
    )
    return small, profiles, list_id


def run(app: App, name: str = "E") -> int:
    return launch.run_export(app.store, app.settings, name=name, actor="tester", http=app.http)


def test_a_run_sends_exactly_the_valid_distinct_members_and_explains_the_rest(exporting: tuple[App, Path, str]) -> None:
    app, profiles, list_id = exporting
    view = show_run(app.store, run_id=run(app))
    counts = view.counts
    assert view.status == "Successful", view.message
    assert set(app.emulator.members(list_id)) == expected_emails(profiles)
    assert counts["sent"] == len(expected_emails(profiles))
    assert counts["members"] == counts["sent"] + counts["invalid_email"] + counts["duplicate"]
    assert counts["invalid_email"] > 0 and counts["duplicate"] > 0 and counts["truncated"] > 0
    assert len(view.batches) == -(-counts["sent"] // 100)
    assert all(batch["state"] == "completed" for batch in view.batches)
    reasons = [reason for _, _, reason, _ in iter_rows_not_sent(app.store, run_id=view.id)]
    assert len(reasons) == counts["invalid_email"] + counts["duplicate"]
    assert reasons.count("duplicate") == counts["duplicate"]
    assert set(reasons) <= {"duplicate", "invalid_email", "missing_email", "email_too_long"}
    text = "".join(rows_csv(app.store, run_id=view.id))
    assert text.startswith("profile_key,email,reason,detail\n")
    assert text.count("\n") == len(reasons) + 1
    long_names = [m.last_name for m in app.emulator.world.contacts.values() if (m.last_name or "").count("-") >= 3]
    assert long_names and all(40 <= len(name or "") <= 50 for name in long_names)
    [listed] = list_runs(app.store, export="E")
    assert (listed.id, listed.counts, listed.rows_not_sent, listed.status) == (
        view.id,
        counts,
        len(reasons),
        "Successful",
    )
    assert view.rows_not_sent == len(reasons)


def test_unsubscribed_contacts_are_not_added_and_each_is_named(exporting: tuple[App, Path, str]) -> None:
    app, profiles, list_id = exporting
    gone = sorted(expected_emails(profiles))[:4]
    for email in gone:
        app.emulator.world.upsert(email, None, None, app.emulator.clock.now())
        app.emulator.unsubscribe(email)
    view = show_run(app.store, run_id=run(app))
    assert view.status == "Successful"
    assert view.counts["unsubscribed"] == 4
    assert set(app.emulator.members(list_id)) == expected_emails(profiles) - set(gone)
    named = {email for _, email, reason, _ in iter_rows_not_sent(app.store, run_id=view.id) if reason == "unsubscribed"}
    assert named == set(gone)


def test_over_the_limit_the_run_is_skipped_before_anything_is_sent(exporting: tuple[App, Path, str]) -> None:
    app, _, list_id = exporting
    limited = app.reopen(export_limit=10)
    view = show_run(limited.store, run_id=run(limited))
    assert view.status == "Skipped"
    members = count_segment(limited.store, name="Canada")
    assert f"hold {members:,} profiles, over the limit of 10 profiles per export" in (view.message or "")
    assert app.emulator.request_count("bulkImportContactsJSON") == 0
    assert app.emulator.members(list_id) == []


def test_a_segment_that_matches_nobody_sends_nothing(exporting: tuple[App, Path, str]) -> None:
    app, _, list_id = exporting
    create_segment(app.store, name="Nobody", rule_text='country = "ZZ"', actor="t")
    exports.edit_export(app.store, app.settings, name="E", segment_names=["Nobody"], http=app.http, actor="t")
    view = show_run(app.store, run_id=run(app))
    assert view.status == "Successful"
    assert view.counts["members"] == 0 and view.counts["sent"] == 0
    assert "nothing was sent" in (view.message or "")
    assert app.emulator.request_count("bulkImportContactsJSON") == 0
    assert app.emulator.members(list_id) == []


def test_an_export_whose_segments_are_all_inactive_is_skipped(exporting: tuple[App, Path, str]) -> None:
    app, _, _ = exporting
    set_active(app.store, name="Canada", active=False, actor="t")
    view = show_run(app.store, run_id=run(app))
    assert view.status == "Skipped"
    assert "None of the export's segments is active" in (view.message or "")


def test_a_failed_activity_fails_the_run_and_names_its_rows(exporting: tuple[App, Path, str]) -> None:
    app, _, _ = exporting
    app.emulator.faults.add("activities#2=failed")  # the list starts empty: no activity reads it first
    view = show_run(app.store, run_id=run(app))
    assert view.status == "Failure"
    assert "1 of" in (view.message or "") and "did not complete" in (view.message or "")
    failed = [batch for batch in view.batches if batch["state"] == "failed"]
    assert [batch["number"] for batch in failed] == [2]
    not_added = [row for row in iter_rows_not_sent(app.store, run_id=view.id) if row[2] == "not_added"]
    assert len(not_added) == failed[0]["contacts"]
    assert view.counts["errors"] == failed[0]["contacts"]


def test_a_run_that_died_resumes_without_resending_accepted_batches(exporting: tuple[App, Path, str]) -> None:
    app, profiles, list_id = exporting
    crashing = httpx.Client(transport=CrashOnImport(app.http._transport, crash_at=3))
    with pytest.raises(Crash):
        launch.run_export(app.store, app.settings, name="E", actor="tester", http=crashing)
    [interrupted] = list_runs(app.store, export="E")
    assert interrupted.status == "Processing"
    assert app.emulator.request_count("bulkImportContactsJSON", 201) == 2
    run_id = run(app)
    assert run_id == interrupted.id
    view = show_run(app.store, run_id=run_id)
    assert view.status == "Successful", view.message
    assert any("Resumed" in item["message"] for item in view.events)
    batches = len(view.batches)
    assert [batch["number"] for batch in view.batches] == list(range(1, batches + 1))
    assert app.emulator.request_count("bulkImportContactsJSON", 201) == batches  # none sent twice
    assert set(app.emulator.members(list_id)) == expected_emails(profiles)
    assert view.counts["members"] == view.counts["sent"] + view.counts["invalid_email"] + view.counts["duplicate"]
    reasons = list(iter_rows_not_sent(app.store, run_id=run_id))
    assert len(reasons) == len({(key, reason) for key, _, reason, _ in reasons})  # no row recorded twice
    with app.store.engine.connect() as db:
        activity_ids = db.execute(select(run_batches.c.activity_id)).scalars().all()
    assert len(activity_ids) == len(set(activity_ids))


def test_a_second_run_now_joins_the_run_another_worker_is_processing(exporting: tuple[App, Path, str]) -> None:
    app, _, _ = exporting
    export = exports.show_export(app.store, name="E")
    run_id, joined = queue.enqueue(app.store, export.id, trigger="schedule", actor="scheduler")
    assert not joined
    # A worker on another host holds it, with a live lease.
    claimed = queue.claim(app.store, "elsewhere:1:abc", 60, run_id=run_id)
    assert claimed is not None and (claimed.run_id, claimed.attempts, claimed.generation) == (run_id, 1, 1)
    again = launch.run_export(app.store, app.settings, name="E", actor="tester", http=app.http, wait=False)
    assert again == run_id
    assert [view.id for view in list_runs(app.store, export="E")] == [run_id]  # no second run was queued
    assert show_run(app.store, run_id=run_id).status == "Processing"
    assert any("Joined by tester" in item["message"] for item in show_run(app.store, run_id=run_id).events)
    # Once its lease expires, the next run now takes it over and finishes it.
    with app.store.begin() as db:
        db.execute(
            update(runs).where(runs.c.id == run_id).values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert run(app) == run_id
    view = show_run(app.store, run_id=run_id)
    assert view.status == "Successful", view.message


def test_a_refused_batch_fails_the_run_with_constant_contacts_reason(exporting: tuple[App, Path, str]) -> None:
    app, _, _ = exporting
    app.emulator.faults.add("imports#2=400")
    view = show_run(app.store, run_id=run(app))
    assert view.status == "Failure"
    assert "bulkImportContactsJSON: Constant Contact answered 400" in (view.message or "")
    assert [batch["number"] for batch in view.batches] == [1]  # the accepted batch stays checkpointed
    assert any(item["level"] == "error" for item in view.events)
