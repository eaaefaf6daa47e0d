"""The run queue is the runs table: queue (or join), claim with a lease, renew it, hand a run back, cancel.

At most one run per export is Queued or Processing (a partial unique index says so), so a second request
joins the run already there. Workers claim the oldest claimable run in one UPDATE ... WHERE id = (SELECT
... FOR UPDATE SKIP LOCKED) on PostgreSQL; SQLite takes its write lock for that one statement, which
serialises claims. A Processing run whose lease expired, or whose worker on this host is no longer
alive, can be claimed again and resumes from its checkpoints.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from segport import audit
from segport.errors import Refused, UnknownName
from segport.exports.service import not_connected
from segport.store import Store
from segport.store.tables import RUN_COUNTERS, exports, run_events, runs

UNFINISHED = ("Queued", "Processing")


def identity() -> str:
    """Who holds a lease: host, process id, and a random part (process ids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _now() -> datetime:
    return datetime.now(UTC)


def enqueue(
    store: Store, export_id: int, *, trigger: str, actor: str, full: bool = False, tick_key: str | None = None
) -> tuple[int, bool]:
    """Queue a run of the export, or join the one already queued or processing: (run id, joined)."""
    for _ in range(3):
        try:
            with store.begin() as db:
                return enqueue_in(db, export_id, trigger=trigger, actor=actor, full=full, tick_key=tick_key)
        except IntegrityError:  # another process queued one between our look and our insert: join it
            continue
    raise Refused("The run queue is busy.", hint="Try again in a moment.")


def enqueue_in(
    db: Connection, export_id: int, *, trigger: str, actor: str, full: bool = False, tick_key: str | None = None
) -> tuple[int, bool]:
    """enqueue() in the caller's transaction."""
    unfinished = db.execute(
        select(runs.c.id).where(runs.c.export_id == export_id, runs.c.status.in_(UNFINISHED))
    ).scalar()
    if unfinished is not None:
        db.execute(
            insert(run_events).values(
                run_id=unfinished, at=_now(), level="info", message=f"Joined by {actor} ({trigger})."
            )
        )
        return int(unfinished), True
    mode, connection_id, name = db.execute(
        select(exports.c.mode, exports.c.connection_id, exports.c.name).where(exports.c.id == export_id)
    ).one()
    if connection_id is None:
        raise not_connected(name)
    run_id = db.execute(
        insert(runs).values(
            export_id=export_id,
            status="Queued",
            trigger=trigger,
            triggered_by=actor,
            created_at=_now(),
            stream_position=0,
            mode=mode,
            full=full,
            phase="sending",
            tick_key=tick_key,
            **dict.fromkeys(RUN_COUNTERS, 0),
        )
    ).inserted_primary_key[0]  # type: ignore[index]
    kind = "full" if full else "incremental"
    db.execute(
        insert(run_events).values(
            run_id=run_id, at=_now(), level="info", message=f"Queued by {actor} ({trigger}, {kind}, {mode} mode)."
        )
    )
    audit.record(db, actor, "run.queued", name, run_id=run_id, trigger=trigger, full=full, tick=tick_key)
    return int(run_id), False


def _claimable(table: Any, now: datetime) -> Any:
    expired = and_(
        table.c.status == "Processing", or_(table.c.lease_expires_at.is_(None), table.c.lease_expires_at < now)
    )
    return or_(table.c.status == "Queued", expired)


def reap_dead_owners(store: Store, table: Any = runs) -> None:
    """Expire the leases of this host's processes that have died (a SIGKILL leaves its lease behind)."""
    host = socket.gethostname()
    with store.begin() as db:
        held = db.execute(
            select(table.c.id, table.c.lease_owner).where(
                table.c.status == "Processing", table.c.lease_owner.like(f"{host}:%")
            )
        ).all()
        dead = [row.id for row in held if not _alive(row.lease_owner)]
        if dead:
            db.execute(update(table).where(table.c.id.in_(dead)).values(lease_expires_at=_now() - timedelta(seconds=1)))


def _alive(owner: str) -> bool:
    try:
        pid = int(owner.split(":")[1])
    except (IndexError, ValueError):
        return True
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def claim(
    store: Store, owner: str, lease_seconds: float, *, run_id: int | None = None, table: Any = runs
) -> tuple[int, int] | None:
    """Take the oldest claimable run (or this one): (id, attempts so far including this one), or None."""
    reap_dead_owners(store, table)
    now = _now()
    candidates = select(table.c.id).where(_claimable(table, now))
    if run_id is not None:
        candidates = candidates.where(table.c.id == run_id)
    chosen = candidates.order_by(table.c.id).limit(1).with_for_update(skip_locked=True).scalar_subquery()
    values: dict[str, Any] = {
        "status": "Processing",
        "lease_owner": owner,
        "lease_expires_at": now + timedelta(seconds=lease_seconds),
        "started_at": func.coalesce(table.c.started_at, now),
    }
    counted = "attempts" in table.c
    if counted:
        values["attempts"] = table.c.attempts + 1
    statement = update(table).where(table.c.id == chosen).values(**values)
    returned = (table.c.id, table.c.attempts) if counted else (table.c.id,)
    with store.begin() as db:
        row = db.execute(statement.returning(*returned)).first()
    if row is None:
        return None
    return int(row[0]), int(row[1]) if counted else 1


def renew(store: Store, run_id: int, owner: str, lease_seconds: float, table: Any = runs) -> bool:
    """Extend the lease; False when this owner no longer holds the run (another worker took it over)."""
    with store.begin() as db:
        result = db.execute(
            update(table)
            .where(table.c.id == run_id, table.c.lease_owner == owner, table.c.status == "Processing")
            .values(lease_expires_at=_now() + timedelta(seconds=lease_seconds))
        )
        return result.rowcount == 1


def let_go(store: Store, run_id: int, owner: str, *, requeue: bool) -> None:
    """Stop holding the run: requeue it (a worker shutting down) or just expire the lease (an error here)."""
    values: dict[str, Any] = {"lease_expires_at": _now() - timedelta(seconds=1)}
    if requeue:
        values.update(status="Queued", lease_owner=None, lease_expires_at=None)
    with store.begin() as db:
        db.execute(
            update(runs)
            .where(runs.c.id == run_id, runs.c.lease_owner == owner, runs.c.status == "Processing")
            .values(**values)
        )


def cancel(store: Store, *, run_id: int, actor: str) -> str:
    """Cancel a queued run now, or ask a processing one to stop at its next batch; returns what happened."""
    with store.begin() as db:
        row = db.execute(select(runs.c.status).where(runs.c.id == run_id)).first()
        if row is None:
            raise UnknownName(f"There is no run {run_id}.", hint="segport runs list shows the runs.")
        if row.status == "Queued":
            db.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(
                    status="Canceled",
                    finished_at=_now(),
                    phase="done",
                    message=f"Canceled by {actor} before it started.",
                )
            )
            db.execute(
                insert(run_events).values(run_id=run_id, at=_now(), level="warning", message=f"Canceled by {actor}.")
            )
            return "canceled"
        if row.status == "Processing":
            db.execute(update(runs).where(runs.c.id == run_id).values(cancel_requested=True))
            db.execute(
                insert(run_events).values(
                    run_id=run_id,
                    at=_now(),
                    level="warning",
                    message=f"Cancel requested by {actor}: the run stops at its next batch.",
                )
            )
            return "requested"
    raise Refused(
        f"Run {run_id} already ended ({row.status}); there is nothing to cancel.",
        hint=f"segport runs show {run_id} shows how it ended.",
    )


def state_of(store: Store, run_id: int) -> tuple[str, bool, str | None]:
    """(status, cancel requested, lease owner) of a run."""
    with store.begin() as db:
        row = db.execute(
            select(runs.c.status, runs.c.cancel_requested, runs.c.lease_owner).where(runs.c.id == run_id)
        ).one()
    return row.status, bool(row.cancel_requested), row.lease_owner
