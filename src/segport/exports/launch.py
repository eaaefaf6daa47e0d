"""Starting runs: on demand from the CLI (queue or join, then work it here), or a run a worker claimed.

Either way the run is held by a lease in the runs table while this process works it; the record's fenced
writes and the heartbeat keep the lease, and a process that fails unexpectedly lets go of it so that the next
attempt resumes at once. How a run ends is decided here from what stopped it:

- the engine finished it (Successful, Skipped, Failure, Canceled);
- the daily quota ran out, or the connection's sign-in stopped working: parked (Queued, with what it waits
  for), resumed by itself after 00:00 UTC or once the connection is reauthorized;
- a worker shutting down hands it back; a worker that lost its lease leaves it to the new holder;
- any other error segport can explain ends it Failure; an unexpected one leaves it to be resumed, up to
  UNEXPECTED_ATTEMPTS attempts ended so, after which it ends Failure naming the error.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from segport.config import Settings
from segport.connections.service import client_for, http_session, retry_policy
from segport.constant_contact.retry import WaitBudget, Waiting
from segport.errors import QuotaExceeded, ReauthorizationRequired, SegportError, WarehouseUnavailable, unexpected
from segport.exports import alerts, engine
from segport.exports.context import RunContext, RunProgress, Silent
from segport.exports.service import connection_of, show_export
from segport.exports.warehouse_waits import WarehouseWaits
from segport.notifications import notify_if_needed
from segport.runs import queue
from segport.runs.lease import RunControl
from segport.runs.record import LeaseLost, RunRecord, Stop
from segport.runs.status import BatchState, Status, Wait
from segport.store import Store
from segport.store.tables import connections, exports, runs
from segport.wording import count, duration, sentence

logger = logging.getLogger(__name__)

# Attempts of one run ended by an unexpected error before it ends Failure (_given_up).
UNEXPECTED_ATTEMPTS = 3


def run_export(
    store: Store,
    settings: Settings,
    *,
    name: str,
    actor: str,
    trigger: str = "manual",
    full: bool = False,
    allow_mass_removal: bool = False,
    progress: RunProgress | None = None,
    http: httpx.Client | None = None,
    wait: bool = True,
) -> int:
    """Run the export now and return the run's id; its row says how it ended (or what it waits for).

    A run of this export already queued or processing is joined instead: resumed here when nobody holds it
    (its process died), else waited for (`wait`) while the worker that holds it finishes. A parked run is not
    waited for: it resumes by itself when its wait is over.
    """
    export = show_export(store, name=name)
    run_id, _ = queue.enqueue(
        store, export.id, trigger=trigger, actor=actor, full=full, allow_mass_removal=allow_mass_removal
    )
    owner = queue.identity()
    claimed = queue.claim(store, owner, settings.lease_seconds, run_id=run_id)
    if claimed is None:
        if wait:
            wait_for(store, run_id)
        return run_id
    execute_run(store, settings, claimed, owner, actor=actor, progress=progress, http=http)
    return run_id


def wait_for(store: Store, run_id: int, poll_seconds: float = 1.0) -> Status:
    """Block until the run ends or is parked; returns its status."""
    while True:
        state = queue.state_of(store, run_id)
        if state.status.finished or state.parked:
            return state.status
        time.sleep(poll_seconds)


def execute_run(
    store: Store,
    settings: Settings,
    claimed: queue.Claim,
    owner: str,
    *,
    actor: str,
    progress: RunProgress | None = None,
    http: httpx.Client | None = None,
    shutdown: threading.Event | None = None,
) -> None:
    """Work a run this process has claimed, from wherever it stands, to its end (or to a clean stop)."""
    record = RunRecord(store, claimed.run_id, claimed.generation, settings.lease_seconds)
    with store.read() as db:
        export_name = db.execute(
            select(exports.c.name).join(runs, runs.c.export_id == exports.c.id).where(runs.c.id == claimed.run_id)
        ).scalar_one()
    resumed = claimed.attempts > 1
    shown = progress or Silent()
    try:
        export = show_export(store, name=export_name)
        record.event(
            f"Resumed by {owner} after an interruption." if resumed else f"Started by {actor} ({owner}).",
            "warning" if resumed else "info",
        )
    except LeaseLost:
        return
    control = RunControl(record, shutdown)
    try:
        with http_session(settings, http) as session:
            budget = WaitBudget(settings.run_wait_seconds)
            retry = retry_policy(settings, budget=budget, observer=RunWaits(record, shown))
            client = client_for(store, settings, session, connection_of(export), retry=retry)
            warehouse = WarehouseWaits(record, control, shown, budget, settings.retry_base_delay_seconds)
            _work_waiting_for_the_warehouse(
                RunContext(store, settings, export, record, control, client, shown, warehouse)
            )
    except Stop as stop:
        if stop.reason == "shutdown":
            with contextlib.suppress(LeaseLost):  # another worker holds it now: that worker decides
                record.hand_back(f"Handed back by {owner}, which is shutting down; the next worker resumes it.")
        if stop.reason != "cancel":
            return  # "lost": another worker holds the run now and carries on; nothing here may touch it
        # Asked while the run waited for the warehouse (the engine ends a run canceled while it sends).
        with contextlib.suppress(LeaseLost):
            record.finish(Status.CANCELED, _canceled_while_waiting(record), "warning")
    except QuotaExceeded as exc:
        with contextlib.suppress(LeaseLost):
            record.park(Wait.QUOTA, _quota_detail(exc), exc.resets_at)
        return
    except ReauthorizationRequired as exc:
        with contextlib.suppress(LeaseLost):
            record.park(Wait.REAUTHORIZATION, _reauthorization_detail(store, export.id, exc), None)
        return
    except SegportError as exc:
        with contextlib.suppress(LeaseLost):
            record.finish(Status.FAILURE, str(exc), "error")
    except Exception as exc:
        if _given_up(record, exc):
            logger.error("Run %s failed on an unexpected error again; it ends Failure.", claimed.run_id, exc_info=exc)
        else:
            # Resumable at once by the next attempt; the database may be what failed, and then the lease expires.
            with contextlib.suppress(Exception):
                record.let_go()
            raise
    except BaseException:
        with contextlib.suppress(Exception):
            record.let_go()
        raise
    finally:
        control.close()
        shown.waiting(None)
    raised = alerts.check_run(store, settings, claimed.run_id)
    notify_if_needed(store, settings, claimed.run_id, alerts=raised)  # webhooks are not Constant Contact


def _work_waiting_for_the_warehouse(ctx: RunContext) -> None:
    """Work the run; when the profiles' warehouse does not answer, wait for it and work the run again from its
    last checkpoint, as a run resumed after a crash is, until the run's waiting budget is spent."""
    while True:
        try:
            engine.work(ctx)
            return
        except WarehouseUnavailable as error:
            if not ctx.warehouse.wait(error):
                raise ctx.warehouse.gave_up(error) from error
        # The engine reads where the run stands from its row: this try resumes it as a crash-resume does.
        ctx.record.event(f"Trying the profiles' warehouse again (try {ctx.warehouse.tries + 1}).")


def _canceled_while_waiting(record: RunRecord) -> str:
    accepted = [batch for batch in record.batches() if batch["state"] != BatchState.PREPARED]
    if not accepted:
        return "Canceled on request while the run waited for the profiles' warehouse; nothing had been sent."
    contacts = sum(batch["contacts"] for batch in accepted)
    return (
        f"Canceled on request while the run waited for the profiles' warehouse, after "
        f"{count(len(accepted), 'batch', 'batches')} ({contacts:,} contacts) Constant Contact had accepted; the "
        "export's next run acknowledges them first, then sends the rest."
    )


def _given_up(record: RunRecord, error: Exception) -> bool:
    """Whether the run ends Failure after this unexpected error: when it is the run's UNEXPECTED_ATTEMPTS-th.

    Such an error may pass (the database restarting), so the run is tried again; one that every attempt meets (a
    warehouse column gone, a bug) would otherwise keep the run Processing, retried for ever with nothing said."""
    try:
        failures = record.failed_unexpectedly(error)
    except Exception:  # the store may be what fails: then nothing is counted, and the run is tried again
        return False
    if failures < UNEXPECTED_ATTEMPTS:
        return False
    with contextlib.suppress(LeaseLost):
        record.finish(
            Status.FAILURE,
            f"Stopped after {failures} attempts, each ended by an error segport did not expect; the last: "
            f"{unexpected(error)}. The server's log has "
            "the details; run the export again once the cause is fixed.",
            "error",
        )
    return True


def _quota_detail(exc: QuotaExceeded) -> str:
    return (
        f"Constant Contact's daily request quota for this API key is used up ({exc.operation or 'a request'} was "
        f"refused). The run resumes by itself after the quota resets at {exc.resets_at:%Y-%m-%d %H:%M} UTC "
        "(a worker picks it up; or run the export again after that)."
    )


def _reauthorization_detail(store: Store, export_id: int, exc: ReauthorizationRequired) -> str:
    with store.read() as db:
        name = db.execute(
            select(connections.c.name)
            .join(exports, exports.c.connection_id == connections.c.id)
            .where(exports.c.id == export_id)
        ).scalar()
    return (
        f"The connection {name!r} needs reauthorization: Constant Contact no longer accepts its sign-in "
        f"({exc.error_key or exc.status or 'refused'}). The run resumes by itself once someone signs in again: "
        f"segport connections reauthorize {name!r}, or Reauthorize on the connection's page."
    )


class RunWaits:
    """Shows a run's waits for Constant Contact: on its page (what it waits for, until when), in its events (when
    a wait starts and when Constant Contact answers again), and on the CLI's progress line."""

    def __init__(self, record: RunRecord, progress: RunProgress) -> None:
        self._record = record
        self._progress = progress
        self._lock = threading.Lock()
        self._streak = 0  # retries in the current run of waits

    def waiting(self, notice: Waiting) -> None:
        until = datetime.now(UTC) + timedelta(seconds=notice.seconds)
        left = "" if notice.budget_left is None else f"; {duration(notice.budget_left)} of waiting left for this run"
        detail = (
            f"{notice.operation} answered {notice.detail}; retrying in {notice.seconds:.1f} s "
            f"(attempt {notice.attempt + 1}{left})"
        )
        with self._lock:
            self._streak += 1
            first = self._streak == 1
        if first:
            self._record.event(sentence(f"Waiting for Constant Contact: {detail}"), "warning")
        self._record.waiting(Wait(notice.reason), detail, until)
        self._progress.waiting(f"Constant Contact: {detail}")

    def recovered(self, operation: str, waited: float, attempts: int) -> None:
        with self._lock:
            self._streak = 0
        self._record.not_waiting()
        self._record.event(f"Constant Contact answered {operation} again after {waited:.1f} s ({attempts} attempts).")
        self._progress.waiting(None)
