"""The scheduler: turns due moments of the schedules into queued work, exactly once however many run.

Each due moment is a tick with a unique key; the scheduler whose INSERT of the key succeeds queues the work
in the same transaction, the others find the key taken and do nothing. A system refresh tick queues a
refresh (segments evaluated by a worker, then the exports that follow the refresh are queued); an
export's own tick queues that export (or joins the run it already has).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from segport.config import Settings
from segport.connections import keep_alive
from segport.exports.service import CONNECTED
from segport.runs import queue
from segport.scheduling.calendar import Schedule, last_due
from segport.scheduling.service import show_system_schedule
from segport.store import Store
from segport.store.tables import exports, refreshes, ticks

logger = logging.getLogger(__name__)


def tick_once(store: Store, settings: Settings, owner: str, now: datetime | None = None) -> list[str]:
    """Queue the work of every moment due now (within the catch-up window); returns the ticks this call took."""
    moment = now or datetime.now(UTC)
    window = timedelta(seconds=settings.schedule_catch_up_seconds)
    taken: list[str] = []
    system = show_system_schedule(store)
    if system is not None:
        due = last_due(system, moment, window)
        if due is not None:
            key = f"refresh@{due.isoformat()}"
            with store.begin() as db:
                if _take(db, key, due, owner):
                    db.execute(insert(refreshes).values(tick_key=key, status="Queued", created_at=moment))
                    taken.append(key)
    with store.begin() as db:
        own = db.execute(
            select(exports.c.id, exports.c.schedule_spec).where(
                exports.c.schedule_mode == "own",
                exports.c.schedule_spec.is_not(None),
                CONNECTED,
            )
        ).all()
    for export_id, spec in own:
        try:
            due = last_due(Schedule.model_validate_json(spec), moment, window)
        except Exception:  # one bad schedule (saved by an older segport, say) must not stop everyone's
            logger.exception("The schedule of export %s cannot be read; it is skipped.", export_id)
            continue
        if due is None:
            continue
        key = f"export:{export_id}@{due.isoformat()}"
        try:
            with store.begin() as db:
                if _take(db, key, due, owner):
                    queue.enqueue_in(db, export_id, trigger="schedule", actor="scheduler", tick_key=key)
                    taken.append(key)
        except IntegrityError:  # a run was queued by someone else meanwhile; the tick rolled back, next pass joins
            logger.info("Tick %s met a concurrent run; it is taken again on the next pass.", key)
    return taken


def _take(db: Connection, key: str, due: datetime, owner: str) -> bool:
    insert_into = postgresql.insert if db.dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert_into(ticks)
        .values(key=key, due_at=due, created_at=datetime.now(UTC), created_by=owner)
        .on_conflict_do_nothing(index_elements=[ticks.c.key])
        .returning(ticks.c.key)
    )
    return db.execute(statement).first() is not None


def run_scheduler(store: Store, settings: Settings, stop: threading.Event, owner: str | None = None) -> None:
    """Tick every `scheduler_interval_seconds` until `stop` is set; keep idle sign-ins alive every hour."""
    me = owner or queue.identity()
    kept_alive_at: float | None = None
    while not stop.is_set():
        try:
            for key in tick_once(store, settings, me):
                logger.info("Scheduled: %s", key)
        except Exception:  # the database may be briefly unreachable: keep ticking, the window catches up
            logger.exception("The scheduler's pass failed; it tries again.")
        if kept_alive_at is None or time.monotonic() - kept_alive_at >= keep_alive.CHECK_SECONDS:
            kept_alive_at = time.monotonic()
            try:
                for name in keep_alive.renew_idle(store, settings):
                    logger.info("Renewed the sign-in of the idle connection %r.", name)
            except Exception:  # as above: the next check tries again
                logger.exception("Keeping idle sign-ins alive failed; the next check tries again.")
        stop.wait(settings.scheduler_interval_seconds)
