"""The run queue is the runs table: queue (or join), claim with a lease, hand back, park, release, cancel.

At most one run per export is Queued or Processing (a partial unique index says so), so a second request
joins the run already there. Workers claim the oldest claimable run in one UPDATE ... WHERE id = (SELECT
... FOR UPDATE SKIP LOCKED) on PostgreSQL; SQLite takes its write lock for that one statement, which
serialises claims. Every claim raises the run's lease generation: the claimer writes only while the run
still has that generation (see record.py), so a worker that lost the run can no longer change it.

Claimable: a Queued run that is not parked (waiting for the daily quota to reset, or for its connection to be
reauthorized), and a Processing run whose lease expired or whose worker on this host is no longer alive.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from segport import audit
from segport.errors import Refused, UnknownName
from segport.runs.events import append_event
from segport.runs.status import NO_SUCH_RUN, UNFINISHED, Phase, Status, Wait
from segport.store import Store
from segport.store.tables import RUN_COUNTERS, exports, runs


def identity() -> str:
    """Who holds a lease: host, process id, and a random part (process ids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _now() -> datetime:
    return datetime.now(UTC)


def not_connected(name: str) -> Refused:
    return Refused(
        f"The export {name!r} has no connection: an admin disconnected it, so it does not run.",
        hint="Edit it and choose a connection.",
        field="connection",
    )


@dataclass(frozen=True)
class Claim:
    run_id: int
    attempts: int  # including this one
    generation: int  # the lease generation this claimer holds


def enqueue(
    store: Store,
    export_id: int,
    *,
    trigger: str,
    actor: str,
    full: bool = False,
    tick_key: str | None = None,
    allow_mass_removal: bool = False,
) -> tuple[int, bool]:
    """Queue a run of the export, or join the one already queued or processing: (run id, joined)."""
    for _ in range(3):
        try:
            with store.begin() as db:
                return enqueue_in(
                    db,
                    export_id,
                    trigger=trigger,
                    actor=actor,
                    full=full,
                    tick_key=tick_key,
                    allow_mass_removal=allow_mass_removal,
                )
        except IntegrityError:  # another process queued one between our look and our insert: join it
            continue
    raise Refused("The run queue is busy.", hint="Try again in a moment.")


def enqueue_in(
    db: Connection,
    export_id: int,
    *,
    trigger: str,
    actor: str,
    full: bool = False,
    tick_key: str | None = None,
    allow_mass_removal: bool = False,
) -> tuple[int, bool]:
    """enqueue() in the caller's transaction. Joining with an approval of mass removal adds it to the run."""
    unfinished = db.execute(
        select(runs.c.id).where(runs.c.export_id == export_id, runs.c.status.in_(UNFINISHED))
    ).scalar()
    if unfinished is not None:
        if allow_mass_removal:
            db.execute(update(runs).where(runs.c.id == unfinished).values(allow_mass_removal=True))
        approval = "; removals above the share allowed" if allow_mass_removal else ""
        tick = f", tick {tick_key}" if tick_key else ""
        append_event(db, unfinished, f"Joined by {actor} ({trigger}{tick}{approval}).")
        return int(unfinished), True
    found = db.execute(
        select(exports.c.mode, exports.c.connection_id, exports.c.name).where(exports.c.id == export_id)
    ).one_or_none()
    if found is None:  # removed since the caller looked it up (its removal and this insert took turns)
        raise UnknownName(
            "The export was removed before its run could be queued.",
            hint="Another user or process removed it meanwhile; the list of exports shows those there are.",
            field="export",
        )
    mode, connection_id, name = found
    if connection_id is None:
        raise not_connected(name)
    run_id = db.execute(
        insert(runs).values(
            export_id=export_id,
            status=Status.QUEUED,
            trigger=trigger,
            triggered_by=actor,
            created_at=_now(),
            stream_position=0,
            mode=mode,
            full=full,
            phase=Phase.SENDING,
            tick_key=tick_key,
            allow_mass_removal=allow_mass_removal,
            **dict.fromkeys(RUN_COUNTERS, 0),
        )
    ).inserted_primary_key[0]  # type: ignore[index]
    kind = "full" if full else "incremental"
    approval = "; removals above the share allowed" if allow_mass_removal else ""
    append_event(db, run_id, f"Queued by {actor} ({trigger}, {kind}, {mode} mode{approval}).")
    audit.record(db, actor, "run.queued", name, run_id=run_id, trigger=trigger, full=full, tick=tick_key)
    return int(run_id), False


def _claimable(table: Any, now: datetime) -> Any:
    expired = and_(
        table.c.status == Status.PROCESSING,
        or_(table.c.lease_expires_at.is_(None), table.c.lease_expires_at < now),
    )
    if "wait_reason" not in table.c:
        return or_(table.c.status == Status.QUEUED, expired)
    ready = and_(
        table.c.status == Status.QUEUED,
        or_(table.c.wait_until.is_(None), table.c.wait_until <= now),
        or_(table.c.wait_reason.is_(None), table.c.wait_reason != Wait.REAUTHORIZATION),
    )
    return or_(ready, expired)


def reap_dead_owners(store: Store, table: Any = runs) -> None:
    """Expire the leases of this host's processes that have died (a SIGKILL leaves its lease behind)."""
    host = socket.gethostname()
    with store.read() as db:
        held = db.execute(
            select(table.c.id, table.c.lease_owner).where(
                table.c.status == Status.PROCESSING, table.c.lease_owner.like(f"{host}:%")
            )
        ).all()
    dead = [row for row in held if not _alive(row.lease_owner)]
    if dead:
        with store.begin() as db:
            for row in dead:  # only if the dead process still holds it: another may have claimed it meanwhile
                db.execute(
                    update(table)
                    .where(table.c.id == row.id, table.c.lease_owner == row.lease_owner)
                    .values(lease_expires_at=_now() - timedelta(seconds=1))
                )


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
) -> Claim | None:
    """Take the oldest claimable run (or this one), raising its lease generation; None when there is none."""
    reap_dead_owners(store, table)
    now = _now()
    candidates = select(table.c.id).where(_claimable(table, now))
    if run_id is not None:
        candidates = candidates.where(table.c.id == run_id)
    chosen = candidates.order_by(table.c.id).limit(1).with_for_update(skip_locked=True).scalar_subquery()
    values: dict[str, Any] = {
        "status": Status.PROCESSING,
        "lease_owner": owner,
        "lease_expires_at": now + timedelta(seconds=lease_seconds),
        "lease_generation": table.c.lease_generation + 1,
        "started_at": func.coalesce(table.c.started_at, now),
    }
    counted = "attempts" in table.c
    if counted:
        values["attempts"] = table.c.attempts + 1
    if "wait_reason" in table.c:
        values.update(wait_reason=None, wait_detail=None, wait_until=None)
    statement = update(table).where(table.c.id == chosen).values(**values)
    returned = [table.c.id, table.c.lease_generation]
    if counted:
        returned.append(table.c.attempts)
    with store.begin() as db:
        row = db.execute(statement.returning(*returned)).first()
    if row is None:
        return None
    return Claim(int(row[0]), int(row[2]) if counted else 1, int(row[1]))


def release_waiting_for_reauthorization(db: Connection, connection_id: int, actor: str) -> list[int]:
    """The connection was reauthorized: its parked runs become claimable again (in the caller's transaction)."""
    parked = (
        db.execute(
            select(runs.c.id)
            .join(exports, exports.c.id == runs.c.export_id)
            .where(
                exports.c.connection_id == connection_id,
                runs.c.status == Status.QUEUED,
                runs.c.wait_reason == Wait.REAUTHORIZATION,
            )
        )
        .scalars()
        .all()
    )
    if parked:
        db.execute(
            update(runs).where(runs.c.id.in_(parked)).values(wait_reason=None, wait_detail=None, wait_until=None)
        )
        for run_id in parked:
            append_event(db, run_id, f"The connection was reauthorized by {actor}: the run resumes.")
    return [int(run_id) for run_id in parked]


def cancel(store: Store, *, run_id: int, actor: str) -> str:
    """Cancel a queued (or parked) run now, or ask a processing one to stop at its next batch."""
    with store.begin() as db:
        row = db.execute(select(runs.c.status).where(runs.c.id == run_id)).first()
        if row is None:
            raise UnknownName(f"There is no run {run_id}.", hint=NO_SUCH_RUN, field="run")
        if row.status == Status.QUEUED:
            db.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(
                    status=Status.CANCELED,
                    finished_at=_now(),
                    phase=Phase.DONE,
                    message=f"Canceled by {actor} before it finished; what it had sent is acknowledged by the "
                    "export's next run.",
                    wait_reason=None,
                    wait_detail=None,
                    wait_until=None,
                )
            )
            append_event(db, run_id, f"Canceled by {actor}.", "warning")
            return "canceled"
        if row.status == Status.PROCESSING:
            db.execute(update(runs).where(runs.c.id == run_id).values(cancel_requested=True))
            append_event(db, run_id, f"Cancel requested by {actor}: the run stops at its next batch.", "warning")
            return "requested"
    raise Refused(
        f"Run {run_id} already ended ({row.status}); there is nothing to cancel.",
        hint="Its events say how it ended.",
    )


@dataclass(frozen=True)
class RunState:
    status: Status
    cancel_requested: bool
    lease_owner: str | None
    wait_reason: Wait | None
    wait_detail: str | None
    wait_until: datetime | None

    @property
    def parked(self) -> bool:
        return self.status == Status.QUEUED and self.wait_reason is not None and self.wait_reason.parks


def state_of(store: Store, run_id: int) -> RunState:
    """Where a run stands, read without the write lock."""
    with store.read() as db:
        row = db.execute(
            select(
                runs.c.status,
                runs.c.cancel_requested,
                runs.c.lease_owner,
                runs.c.wait_reason,
                runs.c.wait_detail,
                runs.c.wait_until,
            ).where(runs.c.id == run_id)
        ).one()
    return RunState(
        Status(row.status),
        bool(row.cancel_requested),
        row.lease_owner,
        Wait(row.wait_reason) if row.wait_reason else None,
        row.wait_detail,
        row.wait_until,
    )
