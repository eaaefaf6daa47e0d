"""Batches acknowledged while the run still sends: a clean batch's members move into the sync state as soon as
Constant Contact finished it; everything else waits for the acknowledgement after sending. Each test walks a
way this can go wrong: a crash between two batches, a batch with refused rows, a failing look-up, activities
still running, a lease lost between the checkpoint and the settling.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from segport import failpoints
from segport.emulator.settings import EmulatorSettings
from segport.exports import launch
from segport.exports import service as exports
from segport.runs import queue
from segport.runs.history import RunView, show_run
from segport.store.tables import run_batches, run_sent, runs, sync_state
from tests.support.app import App
from tests.support.exporting import QUICK, ExportWorld, email_of, nothing_to_do


class Crash(BaseException):
    """Stands for the process dying at a failpoint: nothing in segport catches it."""


@pytest.fixture
def quick(app: App) -> App:
    quick = app.reopen(batch_max_contacts=50, **QUICK)
    quick.connect("CC")
    return quick


@pytest.fixture(autouse=True)
def no_failpoints() -> Iterator[None]:
    yield
    failpoints.set_action(None)


def crash_at(name: str, occurrence: int) -> None:
    seen = {"count": 0}

    def action(point: str) -> None:
        if point == name:
            seen["count"] += 1
            if seen["count"] == occurrence:
                raise Crash(point)

    failpoints.set_action(action)


def settled_batches(app: App, run_id: int) -> list[int]:
    with app.store.read() as db:
        return list(
            db.execute(
                select(run_batches.c.number)
                .where(run_batches.c.run_id == run_id, run_batches.c.finished_at.is_not(None))
                .order_by(run_batches.c.number)
            ).scalars()
        )


def counts(app: App, run_id: int) -> tuple[int, int]:
    """(contacts in the sync state, contacts still staged for the run)."""
    with app.store.read() as db:
        synced = db.execute(select(func.count()).select_from(sync_state)).scalar_one()
        staged = db.execute(select(func.count()).where(run_sent.c.run_id == run_id)).scalar_one()
    return int(synced), int(staged)


def staged_batches(app: App, run_id: int) -> list[int]:
    with app.store.read() as db:
        return list(
            db.execute(
                select(run_sent.c.batch_number).where(run_sent.c.run_id == run_id).distinct().order_by("batch_number")
            ).scalars()
        )


def sending_event(view: RunView) -> str:
    return next(item["message"] for item in view.events if item["message"].startswith("Read "))


def test_clean_batches_are_settled_while_sending_and_a_crash_after_them_loses_nothing(
    quick: App, tmp_path: Path
) -> None:
    world = ExportWorld(quick, tmp_path)
    crash_at("checkpointed", occurrence=3)  # batch 3 accepted and checkpointed, not yet settled
    with pytest.raises(Crash):
        world.run()
    failpoints.set_action(None)
    assert settled_batches(quick, 1) == [1, 2]
    assert counts(quick, 1)[0] == 100  # batches 1 and 2 are in the sync state
    assert staged_batches(quick, 1)[0] == 3  # batch 3 is still staged (and those prepared after it)
    imports_before = world.accepted_imports()
    resumed = world.run()
    assert resumed.id == 1 and resumed.status == "Successful", resumed.message
    assert world.accepted_imports() - imports_before == len(resumed.batches) - 3  # nothing sent twice
    assert world.listed() == world.expected()
    assert counts(quick, 1) == (resumed.counts["sent"], 0)
    assert nothing_to_do(world.plan())


def test_every_clean_batch_of_a_run_is_settled_while_sending(quick: App, tmp_path: Path) -> None:
    world = ExportWorld(quick, tmp_path)
    view = world.run()
    assert view.status == "Successful", view.message
    batches = len(view.batches)
    assert batches > 1
    assert f"sent {batches} batches ({batches} acknowledged as Constant Contact finished them)" in sending_event(view)
    assert counts(quick, view.id) == (view.counts["sent"], 0)
    assert world.listed() == world.expected()


def test_a_batch_with_refused_rows_waits_for_the_acknowledgement_after_sending(quick: App, tmp_path: Path) -> None:
    world = ExportWorld(quick, tmp_path)
    refused = email_of(0)
    quick.emulator.block(refused)  # the first member of batch 1 (members go in the order of their addresses)
    crash_at("checkpointed", occurrence=3)
    with pytest.raises(Crash):
        world.run()
    failpoints.set_action(None)
    assert settled_batches(quick, 1) == [2]  # batch 1 needs the list read to name its refused row
    resumed = world.run()
    assert resumed.status == "Successful", resumed.message
    assert {email for _, email, reason, _ in world.rows(resumed.id) if reason == "refused"} == {refused}
    with quick.store.read() as db:
        assert db.execute(select(sync_state.c.outcome).where(sync_state.c.email == refused)).scalar() == "refused"
    assert world.listed() == world.expected()


def test_a_failing_activity_look_up_leaves_the_batches_to_the_acknowledgement_after_sending(
    quick: App, tmp_path: Path
) -> None:
    world = ExportWorld(quick, tmp_path)
    quick.emulator.faults.add("polls#1=400")  # refused outright: no retry, so the run stops asking early
    view = world.run()
    assert view.status == "Successful", view.message
    assert "acknowledged as Constant Contact finished them" not in sending_event(view)
    assert settled_batches(quick, view.id) == list(range(1, len(view.batches) + 1))
    assert counts(quick, view.id) == (view.counts["sent"], 0)
    assert world.listed() == world.expected()


@pytest.mark.parametrize(
    "live_emulator", [EmulatorSettings(contacts_per_second=60, activity_start_delay=0.05)], indirect=True
)
def test_activities_still_running_are_settled_after_sending(quick: App, tmp_path: Path) -> None:
    world = ExportWorld(quick, tmp_path)
    view = world.run()
    assert view.status == "Successful", view.message
    found = sending_event(view)
    # Each import takes almost a second and they run one after another, while batches leave at two requests
    # (the import, a look-up) per batch under 4 requests a second: the last batches are still running when
    # sending ends.
    assert f"({len(view.batches)} acknowledged" not in found
    assert settled_batches(quick, view.id) == list(range(1, len(view.batches) + 1))
    assert counts(quick, view.id) == (view.counts["sent"], 0)
    assert world.listed() == world.expected()


def test_a_worker_that_lost_its_lease_before_settling_writes_nothing(quick: App, tmp_path: Path) -> None:
    world = ExportWorld(quick, tmp_path)
    export = exports.show_export(quick.store, name="E")
    run_id, _ = queue.enqueue(quick.store, export.id, trigger="manual", actor="t")
    first = queue.claim(quick.store, "paused:1:a", 60, run_id=run_id)
    assert first is not None
    paused, resume = threading.Event(), threading.Event()

    def pause_after_the_first_checkpoint(point: str) -> None:
        if point == "checkpointed" and not paused.is_set():
            paused.set()
            resume.wait(30)  # SIGSTOP between batch 1's checkpoint and its settling

    failpoints.set_action(pause_after_the_first_checkpoint)
    worker = threading.Thread(
        target=launch.execute_run,
        args=(quick.store, quick.settings, first, "paused:1:a"),
        kwargs={"actor": "t", "http": quick.http},
    )
    worker.start()
    try:
        assert paused.wait(30)
        second = None
        for _ in range(50):  # the preparing thread may renew the lease once more: expire it until a claim holds
            with quick.store.begin() as db:
                db.execute(
                    update(runs).where(runs.c.id == run_id).values(lease_expires_at=datetime.now(UTC) - timedelta(1))
                )
            second = queue.claim(quick.store, "other:2:b", 60, run_id=run_id)
            if second is not None:
                break
            time.sleep(0.1)
        assert second is not None
        events_before = len(show_run(quick.store, run_id=run_id).events)
    finally:
        failpoints.set_action(None)
        resume.set()  # SIGCONT
    worker.join(30)
    assert not worker.is_alive()
    assert settled_batches(quick, run_id) == []  # the lost worker did not settle batch 1
    assert counts(quick, run_id)[0] == 0
    assert len(show_run(quick.store, run_id=run_id).events) == events_before
    launch.execute_run(quick.store, quick.settings, second, "other:2:b", actor="t", http=quick.http)
    view = show_run(quick.store, run_id=run_id)
    assert view.status == "Successful", view.message
    assert counts(quick, run_id) == (view.counts["sent"], 0)
    assert world.listed() == world.expected()
