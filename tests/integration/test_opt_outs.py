"""Who unsubscribed, read once per run: every opt-out the first time, then only those since the last complete
read. A rerun must still name every member who opted out, whatever was read before, on both stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from segport import failpoints
from segport.clock import ManualClock, as_utc
from segport.constant_contact.client import RECENT_OPT_OUTS_PAGED_UP_TO
from segport.emulator import Emulator
from segport.exports import service as exports
from segport.exports.acknowledging import UNSUBSCRIBED_SINCE
from segport.runs.history import iter_rows_not_sent
from segport.store.tables import exports as exports_table
from tests.support.app import App
from tests.support.crashing import Crash, crash_at
from tests.support.exporting import ExportWorld, email_of
from tests.support.harness import Harness

WHOLE = "postContactsExport"  # a whole read: a contact export activity
RECENT = "getContacts"  # the opt-outs since a time (and the few per-address lookups, none in these runs)


def read_at(app: App) -> datetime | None:
    with app.store.read() as db:
        found = db.execute(select(exports_table.c.opt_outs_read_at).where(exports_table.c.name == "E")).scalar_one()
    return None if found is None else as_utc(found)


def rows(app: App, run_id: int) -> dict[str, tuple[str, str | None]]:
    return {key: (reason, detail) for key, _, reason, detail in iter_rows_not_sent(app.store, run_id=run_id)}


def test_the_emulator_answers_the_opt_outs_since_a_time_dated_by_its_clock(
    harness: Harness, emulator: Emulator, clock: ManualClock
) -> None:
    for email in ("early@x.io", "late@x.io", "stays@x.io"):
        emulator.world.upsert(email, None, None, clock.now())
    emulator.unsubscribe("early@x.io")
    clock.advance(2 * 86400 + 0.5)
    emulator.unsubscribe("late@x.io")
    recent = harness.client.opt_outs(clock.now() - timedelta(days=1))
    assert recent.emails == {"late@x.io"} and not recent.whole
    # The emulator's Date header, in whole seconds (the client's own clock would have kept the half second).
    assert recent.as_of == clock.now().replace(microsecond=0)
    whole = harness.client.opt_outs()
    assert whole.emails == {"early@x.io", "late@x.io"} and whole.whole


def test_a_rerun_reads_only_recent_opt_outs_and_still_names_who_left(app: App, tmp_path: Path) -> None:
    app.connect("CC")
    world = ExportWorld(app, tmp_path)
    world.run()
    assert app.emulator.request_count(WHOLE) == 1
    first_read = read_at(app)
    assert first_read is not None
    # Two members on the list unsubscribe in Constant Contact; one opt-out is dated an hour before the first
    # read (recorded late, or by a clock behind the one that dated the read): the overlap finds it.
    app.emulator.unsubscribe(email_of(5))
    app.emulator.unsubscribe(email_of(9))
    app.emulator.world.contacts[email_of(9)].opt_out_date = first_read - timedelta(hours=1)
    recent = app.emulator.request_count(RECENT)
    view = world.run()
    assert app.emulator.request_count(WHOLE) == 1  # no export activity: one GET since the last read
    assert app.emulator.request_count(RECENT) == recent + 1
    named = rows(app, view.id)
    assert named["k0005"] == named["k0009"] == ("unsubscribed", UNSUBSCRIBED_SINCE)
    assert view.counts["unsubscribed"] == 2 and view.status == "Successful"
    later_read = read_at(app)
    # The activity's creation has milliseconds, the Date header whole seconds.
    assert later_read is not None and later_read >= first_read.replace(microsecond=0)
    assert world.listed() == world.expected()


def test_an_old_opt_out_whose_profile_joins_is_named_from_a_whole_read(app: App, tmp_path: Path) -> None:
    app.connect("CC")
    world = ExportWorld(app, tmp_path)  # members: group < 90
    outsider = email_of(95)  # not a member yet, a contact of the account who unsubscribed ten days ago
    app.emulator.world.upsert(outsider, None, None, app.emulator.clock.now())
    app.emulator.unsubscribe(outsider)
    app.emulator.world.contacts[outsider].opt_out_date = datetime.now(UTC) - timedelta(days=10)
    world.run()
    world.narrow(100)
    view = world.run()
    # Sent (its profile is new to the export), not added: only a whole read knows it unsubscribed long ago.
    assert rows(app, view.id)["k0095"][0] == "unsubscribed"
    assert view.counts["unsubscribed"] == 1
    assert world.listed() == world.expected()


def test_a_run_whose_read_failed_leaves_the_time_so_the_next_reads_from_the_earlier_one(
    app: App, tmp_path: Path
) -> None:
    app.connect("CC")
    world = ExportWorld(app, tmp_path)
    world.run()
    first_read = read_at(app)
    app.emulator.unsubscribe(email_of(7))
    # Refused whatever way it is read: since a time, then every one.
    app.emulator.faults.add("contacts#1-100=400", "exports#1-100=400")
    failed = world.run()
    assert failed.status == "Failure"
    assert read_at(app) == first_read
    app.emulator.faults.clear()
    view = world.run()
    assert rows(app, view.id)["k0007"] == ("unsubscribed", UNSUBSCRIBED_SINCE)
    assert read_at(app) != first_read


def test_another_list_or_connection_reads_every_opt_out_again(app: App, tmp_path: Path) -> None:
    app.connect("CC")
    world = ExportWorld(app, tmp_path)
    world.run()
    assert read_at(app) is not None
    other = app.emulator.create_list("Other")
    exports.edit_export(app.store, app.settings, name="E", list_id=other, actor="t", http=app.http)
    assert read_at(app) is None
    world.run()
    assert app.emulator.request_count(WHOLE) == 2
    assert read_at(app) is not None
    # Another connection may be another account: its opt-outs too.
    app.connect("CC2")
    exports.edit_export(app.store, app.settings, name="E", connection="CC2", actor="t", http=app.http)
    assert read_at(app) is None


def test_a_mass_unsubscribe_is_read_through_one_export_not_page_by_page(
    harness: Harness, emulator: Emulator, clock: ManualClock
) -> None:
    since = clock.now()
    clock.advance(60)
    many = [f"gone{number}@x.io" for number in range(RECENT_OPT_OUTS_PAGED_UP_TO + 1)]
    for email in many:
        emulator.world.upsert(email, None, None, clock.now())
        emulator.world.unsubscribe(email)
    read = harness.client.opt_outs(since)
    assert read.emails == set(many) and read.whole
    assert emulator.request_count(RECENT) == 1  # the first page only: its count said to read them all
    assert emulator.request_count(WHOLE) == 1
    # One fewer is read page by page (five pages of at most 500).
    emulator.world.unsubscribe(emulator.world.upsert("stays@x.io", None, None, clock.now()).email)
    emulator.world.contacts["gone0@x.io"].permission = "implicit"
    emulator.world.contacts["gone1@x.io"].permission = "implicit"
    paged = harness.client.opt_outs(since)
    assert paged.emails == (set(many) - {"gone0@x.io", "gone1@x.io"}) | {"stays@x.io"} and not paged.whole
    assert emulator.request_count(RECENT) == 1 + 4 and emulator.request_count(WHOLE) == 1


def test_a_refused_read_since_a_time_falls_back_to_reading_every_opt_out(app: App, tmp_path: Path) -> None:
    app.connect("CC")
    world = ExportWorld(app, tmp_path)
    world.run()
    app.emulator.unsubscribe(email_of(11))
    app.emulator.faults.add("contacts#1=400")
    view = world.run()
    assert view.status == "Successful"
    assert rows(app, view.id)["k0011"] == ("unsubscribed", UNSUBSCRIBED_SINCE)
    assert app.emulator.request_count(WHOLE) == 2  # the first run's, and this fallback


def test_a_run_that_died_after_finding_who_unsubscribed_names_them_when_it_resumes(app: App, tmp_path: Path) -> None:
    app.connect("CC")
    world = ExportWorld(app, tmp_path)
    world.run()
    app.emulator.unsubscribe(email_of(13))
    crash_at("opt-outs-found")
    try:
        with pytest.raises(Crash):
            world.run()
    finally:
        failpoints.set_action(None)
    resumed = world.run()
    assert resumed.status == "Successful", resumed.message
    assert rows(app, resumed.id)["k0013"] == ("unsubscribed", UNSUBSCRIBED_SINCE)
    assert resumed.counts["unsubscribed"] == 1


def whole_read_at(app: App) -> datetime | None:
    with app.store.read() as db:
        found = db.execute(
            select(exports_table.c.opt_outs_whole_read_at).where(exports_table.c.name == "E")
        ).scalar_one()
    return None if found is None else as_utc(found)


def after_a_first_run(app: App, tmp_path: Path) -> tuple[ExportWorld, datetime]:
    """The export "E" after its first run (a whole read), and the time of that read."""
    app.connect("CC")
    world = ExportWorld(app, tmp_path)
    world.run()
    first_read = read_at(app)
    assert first_read is not None
    return world, first_read


def set_whole_read_at(app: App, moment: datetime | None) -> None:
    with app.store.begin() as db:
        db.execute(exports_table.update().where(exports_table.c.name == "E").values(opt_outs_whole_read_at=moment))


def test_an_opt_out_recorded_later_than_the_overlap_is_found_by_the_weekly_whole_read(app: App, tmp_path: Path) -> None:
    world, first_read = after_a_first_run(app, tmp_path)
    assert whole_read_at(app) == first_read
    # Recorded by Constant Contact two days after the fact: dated before the overlap of every partial read.
    app.emulator.unsubscribe(email_of(17))
    app.emulator.world.contacts[email_of(17)].opt_out_date = first_read - timedelta(days=2)
    missed = world.run()
    assert "k0017" not in rows(app, missed.id) and app.emulator.request_count(WHOLE) == 1
    assert whole_read_at(app) == first_read  # a partial read leaves the whole read's time
    # A week of partial reads later (the account's times), the next run reads every opt-out again.
    week_before = as_utc(read_at(app) or first_read) - timedelta(days=7)
    set_whole_read_at(app, week_before)
    view = world.run()
    assert app.emulator.request_count(WHOLE) == 2
    assert view.counts["unsubscribed"] == 1 and rows(app, view.id)["k0017"][0] == "unsubscribed"
    assert whole_read_at(app) == read_at(app) and whole_read_at(app) != week_before
    assert world.listed() == world.expected()
    # Six days and 23 hours is not a week: partial again.
    set_whole_read_at(app, as_utc(read_at(app) or first_read) - timedelta(days=7) + timedelta(hours=1))
    world.run()
    assert app.emulator.request_count(WHOLE) == 2


def test_a_failed_weekly_whole_read_falls_back_to_the_recent_opt_outs_and_is_tried_again(
    app: App, tmp_path: Path
) -> None:
    world, first_read = after_a_first_run(app, tmp_path)
    set_whole_read_at(app, None)  # as after the upgrade: no whole read known
    app.emulator.unsubscribe(email_of(19))
    app.emulator.faults.add("exports#1-100=400")  # every contact export refused
    view = world.run()
    assert view.status == "Successful", view.message
    assert rows(app, view.id)["k0019"] == ("unsubscribed", UNSUBSCRIBED_SINCE)  # from the recent read
    warnings = [event["message"] for event in view.events if event["level"] == "warning"]
    assert any("Reading every opt-out" in message and "next run tries again" in message for message in warnings)
    assert whole_read_at(app) is None and read_at(app) != first_read
    app.emulator.faults.clear()
    whole_before = app.emulator.request_count(WHOLE)
    world.run()
    assert app.emulator.request_count(WHOLE) == whole_before + 1 and whole_read_at(app) == read_at(app)
