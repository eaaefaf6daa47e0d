"""Workers: claim refreshes and runs from the database and work them, until asked to stop.

Several workers (processes, machines) can share one PostgreSQL database: claims skip what another holds,
leases are renewed while the work goes on, and the work of a worker that died is taken over when its lease
expires. On shutdown (SIGTERM) a worker stops its run at the next batch boundary and hands it back.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

import httpx
from sqlalchemy import select, update

from segport.alerting.delivery import alert_failed_refresh
from segport.config import Settings
from segport.errors import SegportError, WarehouseUnavailable, unexpected
from segport.exports.launch import execute_run
from segport.exports.service import CONNECTED
from segport.logs import working_on
from segport.runs import queue
from segport.segments.membership import count_segment
from segport.segments.service import list_segments
from segport.store import Store
from segport.store.tables import exports, refreshes
from segport.wording import count

logger = logging.getLogger(__name__)


def work_once(
    store: Store, settings: Settings, owner: str, shutdown: threading.Event, http: httpx.Client | None = None
) -> bool:
    """Claim and work one refresh or run; False when there was nothing to do."""
    refresh = queue.claim(store, owner, settings.lease_seconds, table=refreshes)
    if refresh is not None:
        run_refresh(store, refresh.run_id)
        return True
    claimed = queue.claim(store, owner, settings.lease_seconds)
    if claimed is None:
        return False
    with working_on(claimed.run_id):
        logger.info("Working run %s (attempt %s).", claimed.run_id, claimed.attempts)
        execute_run(store, settings, claimed, owner, actor="worker", shutdown=shutdown, http=http)
    return True


def run_refresh(store: Store, refresh_id: int) -> None:
    """Evaluate the active segments (their counts are recorded), then queue the exports following the refresh.

    A profiles' warehouse that does not answer leaves the segments unevaluated, and the exports are queued all
    the same: each run waits for the warehouse, so a warehouse restarting at the refresh's hour no longer
    costs a day's export. The refresh ends Failure, saying so; the runs tell their channels if they fail."""
    unanswered: WarehouseUnavailable | None = None
    try:
        counted = 0
        try:
            for segment in list_segments(store):
                if segment.active:
                    count_segment(store, name=segment.name)
                    counted += 1
        except WarehouseUnavailable as exc:
            unanswered = exc
        with store.begin() as db:
            tick_key = db.execute(select(refreshes.c.tick_key).where(refreshes.c.id == refresh_id)).scalar()
            following = (
                db.execute(
                    select(exports.c.id).where(
                        exports.c.schedule_mode == "refresh",
                        CONNECTED,
                    )
                )
                .scalars()
                .all()
            )
            trigger = "schedule" if tick_key else "manual"  # no tick: someone pressed Refresh now
            for export_id in following:
                queue.enqueue_in(db, export_id, trigger=trigger, actor="refresh", tick_key=tick_key)
            message = f"{count(counted, 'segment')} evaluated; {count(len(following), 'export')} queued."
            if unanswered is not None:
                message = (
                    f"The segments could not be evaluated: {unanswered.message} {count(len(following), 'export')} "
                    "queued all the same: each run waits for the warehouse to answer (SEGPORT_RUN_WAIT_SECONDS)."
                )
            db.execute(
                update(refreshes)
                .where(refreshes.c.id == refresh_id)
                .values(
                    status="Successful" if unanswered is None else "Failure",
                    finished_at=datetime.now(UTC),
                    lease_owner=None,
                    message=message,
                )
            )
    except SegportError as exc:
        _failed(store, refresh_id, str(exc))
    except Exception as exc:
        # Unlike a run, a refresh carries nothing it must finish: the next one starts afresh. Tried again, an error
        # every attempt meets (a bug, a warehouse's surprise) kept it Processing, claimed after each lease, for ever.
        logger.error("Refresh %s failed on an unexpected error; it ends Failure.", refresh_id, exc_info=exc)
        _failed(
            store,
            refresh_id,
            f"Failed on an error segport did not expect ({unexpected(exc)}). The server's log has the "
            "details; the exports that follow the refresh were not queued, and the next refresh tries again.",
        )


def _failed(store: Store, refresh_id: int, message: str) -> None:
    with store.begin() as db:
        db.execute(
            update(refreshes)
            .where(refreshes.c.id == refresh_id)
            .values(status="Failure", finished_at=datetime.now(UTC), lease_owner=None, message=message)
        )
    try:  # the exports it did not queue will not tell anyone themselves
        alert_failed_refresh(store, store.settings, refresh_id, message)
    except Exception:  # an alert never changes what happened; the refresh's history says it all the same
        logger.exception("The alerts of failed refresh %s could not be sent.", refresh_id)


def run_worker(store: Store, settings: Settings, shutdown: threading.Event, http: httpx.Client | None = None) -> None:
    """Work until `shutdown` is set; the run in hand stops at its next batch and is handed back."""
    owner = queue.identity()
    logger.info("Worker %s started.", owner)
    while not shutdown.is_set():
        try:
            busy = work_once(store, settings, owner, shutdown, http)
        except Exception:  # one bad run must not stop the worker; it is recorded on the run where possible
            logger.exception("The worker's last claim failed; it carries on.")
            busy = False
        if not busy:
            shutdown.wait(settings.worker_idle_seconds)
    logger.info("Worker %s stopped.", owner)
