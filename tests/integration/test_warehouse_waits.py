"""A run waits for a profiles' warehouse that does not answer, then goes on from its last checkpoint.

Before, a warehouse restarting at night, or a connection it dropped mid-read, ended the run Failure at once and
the list stayed half sent until the next scheduled run; and a refresh at that hour queued no export at all.
Here the warehouse is down when the run starts, or goes mid-read, and comes back; or never does; and the run is
canceled or its worker stops while it waits."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import select

from segport.cli.common import console
from segport.cli.runs import print_run
from segport.exports import launch
from segport.exports.context import Silent
from segport.exports.service import show_export
from segport.runs import queue
from segport.runs.history import show_run
from segport.scheduling import worker
from segport.scheduling.refreshes import list_refreshes, refresh_now
from segport.store.tables import runs
from tests.integration.test_warehouse_changed import (
    DOWN,
    MANY,
    export_over,
    many_customers,
    point_at,
    run,
    run_dropped_mid_read,
)
from tests.support.app import App, postgresql_warehouse
from tests.support.crashing import Crash
from tests.support.exporting import QUICK


@pytest.fixture
def warehouse() -> str:
    return postgresql_warehouse(
        "moved",
        "CREATE TABLE moved.customers (id text, email text, first text, spend int)",
        "INSERT INTO moved.customers VALUES ('1', 'a@example.com', 'Ann', 10), ('2', 'b@example.com', 'Bob', 20)",
    )


def waiting_for_the_warehouse(app: App) -> int | None:
    """The run that waits for the warehouse now, if one does."""
    with app.store.read() as db:
        return db.execute(select(runs.c.id).where(runs.c.wait_reason == "warehouse")).scalar()


@contextmanager
def once_it_waits(app: App, then: Callable[[int], None]) -> Iterator[threading.Event]:
    """Call `then(run_id)` from another thread as soon as a run waits for the warehouse."""
    done = threading.Event()
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            waiting = waiting_for_the_warehouse(app)
            if waiting is not None:
                then(waiting)
                done.set()
                return
            time.sleep(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield done
    finally:
        stop.set()
        watcher.join(timeout=10)


def test_a_run_waits_for_a_warehouse_that_comes_back_and_finishes_in_the_same_run(app: App, warehouse: str) -> None:
    patient = app.reopen(**QUICK, run_wait_seconds=600)
    list_id = export_over(patient, warehouse)
    point_at(patient, DOWN)  # down when the run starts
    with once_it_waits(patient, lambda _run: point_at(patient, warehouse)) as came_back:
        status, message = run(patient)
    assert came_back.is_set() and status == "Successful", message
    assert sorted(patient.emulator.members(list_id)) == ["a@example.com", "b@example.com"]
    view = show_run(patient.store, run_id=1)
    said = [event["message"] for event in view.events]
    assert any(line.startswith("Waiting for the profiles' warehouse: The profiles' warehouse at ") for line in said)
    assert any(line.startswith("Trying the profiles' warehouse again (try 2)") for line in said), said
    assert view.wait_reason is None and view.counts["sent"] == 2


class Shown(Silent):
    """What the CLI's progress line would show while the run waits."""

    def __init__(self) -> None:
        self.waits: list[str | None] = []

    def waiting(self, detail: str | None) -> None:
        self.waits.append(detail)


def test_a_run_that_waits_says_what_for_on_its_page_and_on_the_progress_line(app: App, warehouse: str) -> None:
    # A pause of 2 s: long enough to read the run twice while it waits (between two pauses it says nothing).
    patient = app.reopen(**{**QUICK, "retry_base_delay_seconds": 2.0}, run_wait_seconds=600)
    export_over(patient, warehouse)
    point_at(patient, DOWN)
    seen: list[str | None] = []

    def look_then_bring_it_back(run_id: int) -> None:
        seen.append(show_run(patient.store, run_id=run_id).waiting_text)
        with console.capture() as printed:  # segport runs show N
            print_run(patient.store, run_id)
        seen.append(printed.get())
        point_at(patient, warehouse)

    shown = Shown()
    with once_it_waits(patient, look_then_bring_it_back):
        run_id = launch.run_export(
            patient.store, patient.settings, name="E", actor="t", http=patient.http, progress=shown
        )
    assert show_run(patient.store, run_id=run_id).status == "Successful"
    text, printed = seen
    assert text is not None and text.startswith("Waiting for the profiles' warehouse to answer again"), text
    assert printed.startswith(f"Run {run_id} of 'E': Processing") and "Waiting for the profiles' warehouse" in printed
    assert "Connection refused" in text and "trying again in " in text and "of waiting left for this run" in text
    assert "not-to-be-shown" not in text
    waits = [detail for detail in shown.waits if detail is not None]
    assert waits and all(detail.startswith("the profiles' warehouse: ") for detail in waits), shown.waits
    assert shown.waits[-1] is None  # the line goes once it answers


def test_a_run_whose_waiting_is_spent_ends_failure_saying_how_long_it_waited(app: App, warehouse: str) -> None:
    # Pauses of 0.01, 0.02, 0.04 and 0.08 s fit in 0.2 s; the fifth (0.16 s) does not.
    patient = app.reopen(**QUICK, run_wait_seconds=0.2)
    list_id = export_over(patient, warehouse)
    point_at(patient, DOWN)
    started = time.monotonic()
    status, message = run(patient)
    assert time.monotonic() - started < 30
    assert status == "Failure" and " does not answer (" in message, message
    assert "The run waited 0 s for it (4 tries), all the waiting a run may do (SEGPORT_RUN_WAIT_SECONDS)." in message
    assert patient.emulator.members(list_id) == []
    assert show_run(patient.store, run_id=1).wait_reason is None


# psycopg warns when it collects a server-side cursor it could not close: its connection was terminated under it.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_connection_dropped_mid_read_is_waited_out_and_the_same_run_sends_the_rest(app: App) -> None:
    url = many_customers()
    patient = app.reopen(batch_max_contacts=2_000, **QUICK, run_wait_seconds=600)
    list_id = export_over(patient, url)
    status, message = run_dropped_mid_read(patient, url)
    assert status == "Successful", message
    assert len(patient.emulator.members(list_id)) == MANY
    view = show_run(patient.store, run_id=1)
    assert any(event["message"].startswith("Waiting for the profiles' warehouse: ") for event in view.events)
    # Batches accepted before the drop were not sent again: at most one batch went twice.
    assert MANY <= view.counts["sent"] <= MANY + 2_000, view.counts
    assert len(view.batches) <= MANY // 2_000 + 2, len(view.batches)


# psycopg warns when it collects a server-side cursor it could not close: its connection was terminated under it.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_run_that_dies_while_it_waits_is_resumed_and_sends_the_rest_once(app: App) -> None:
    url = many_customers()
    patient = app.reopen(batch_max_contacts=2_000, **QUICK, run_wait_seconds=600)
    list_id = export_over(patient, url)

    def die_while_waiting(point: str) -> None:
        if point == "warehouse-wait":
            raise Crash(point)

    with pytest.raises(Crash):  # dropped mid-read, then the process dies while the run waits
        run_dropped_mid_read(patient, url, then=die_while_waiting)
    interrupted = show_run(patient.store, run_id=1)
    assert interrupted.status == "Processing" and interrupted.wait_reason == "warehouse"
    accepted = interrupted.counts["sent"]
    assert 0 < accepted < MANY
    status, message = run(patient)  # another process takes the run over once its lease is gone
    assert status == "Successful", message
    assert len(patient.emulator.members(list_id)) == MANY
    view = show_run(patient.store, run_id=1)
    assert view.wait_reason is None and any(event["message"].startswith("Resumed by ") for event in view.events)
    assert MANY <= view.counts["sent"] <= MANY + 2_000, view.counts  # at most one batch went twice


def test_a_run_canceled_while_it_waits_ends_canceled_at_once(app: App, warehouse: str) -> None:
    patient = app.reopen(**QUICK, run_wait_seconds=600)
    list_id = export_over(patient, warehouse)
    point_at(patient, DOWN)
    started = time.monotonic()
    with once_it_waits(patient, lambda run_id: queue.cancel(patient.store, run_id=run_id, actor="t")):
        status, message = run(patient)
    assert time.monotonic() - started < 30
    assert status == "Canceled", message
    assert message == "Canceled on request while the run waited for the profiles' warehouse; nothing had been sent."
    assert patient.emulator.members(list_id) == []
    point_at(patient, warehouse)  # the next run is not held up by the canceled one
    status, message = run(patient)
    assert status == "Successful", message
    assert sorted(patient.emulator.members(list_id)) == ["a@example.com", "b@example.com"]


def test_a_worker_stopping_while_its_run_waits_hands_the_run_back(app: App, warehouse: str) -> None:
    patient = app.reopen(**QUICK, run_wait_seconds=600)
    export_over(patient, warehouse)
    point_at(patient, DOWN)
    shutdown = threading.Event()
    run_id, _ = queue.enqueue(patient.store, show_export(patient.store, name="E").id, trigger="manual", actor="t")
    claimed = queue.claim(patient.store, "worker-a", patient.settings.lease_seconds, run_id=run_id)
    assert claimed is not None
    with once_it_waits(patient, lambda _run: shutdown.set()):
        launch.execute_run(
            patient.store, patient.settings, claimed, "worker-a", actor="t", http=patient.http, shutdown=shutdown
        )
    state = queue.state_of(patient.store, run_id)
    assert state.status == "Queued" and not state.parked  # another worker takes it once its pause is over
    assert show_run(patient.store, run_id=run_id).events[-1]["message"].startswith("Handed back by worker-a")
    point_at(patient, warehouse)
    claimed = queue.claim(patient.store, "worker-b", patient.settings.lease_seconds, run_id=run_id)
    assert claimed is not None
    launch.execute_run(patient.store, patient.settings, claimed, "worker-b", actor="t", http=patient.http)
    assert show_run(patient.store, run_id=run_id).status == "Successful"


def test_a_refresh_while_the_warehouse_is_down_queues_the_exports_all_the_same(app: App, warehouse: str) -> None:
    patient = app.reopen(**QUICK, run_wait_seconds=600)
    export_over(patient, warehouse)  # follows the refresh, as an export does unless it has its own schedule
    point_at(patient, DOWN)
    refresh_id, _ = refresh_now(patient.store, actor="t")
    worker.run_refresh(patient.store, refresh_id)
    [refresh] = [item for item in list_refreshes(patient.store, limit=1) if item.id == refresh_id]
    assert refresh.status == "Failure", refresh.message
    assert (refresh.message or "").startswith("The segments could not be evaluated: The profiles' warehouse at ")
    assert "1 export queued all the same: each run waits for the warehouse to answer" in (refresh.message or "")
    claimed = queue.claim(patient.store, "worker", patient.settings.lease_seconds)
    assert claimed is not None  # the export's run, queued by the refresh
    with once_it_waits(patient, lambda _run: point_at(patient, warehouse)):
        launch.execute_run(patient.store, patient.settings, claimed, "worker", actor="worker", http=patient.http)
    assert show_run(patient.store, run_id=claimed.run_id).status == "Successful"
