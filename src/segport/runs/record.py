"""What a worker holding a run writes, and the only way it writes: every transaction is fenced by the lease.

A claim gives the worker a lease generation. Each transaction opened here first runs

    UPDATE runs SET lease_expires_at = <now + lease> WHERE id = :run AND lease_generation = :held
                                                          AND status = 'Processing'

and carries on only if that touched the row; on PostgreSQL the row stays locked until the commit, on SQLite
the write lock is held from BEGIN IMMEDIATE, so no claim can come between the check and the writes. A worker
that lost the run (it was paused past its lease, another worker claimed it) gets `LeaseLost` and writes
nothing. The same statement renews the lease, so a busy run never needs a separate renewal that would queue
behind its own writes (lease.py renews only when the run has been quiet).

The engine (segport.exports) reports facts through this class: batches prepared, accepted and finished,
counts, rows not sent, events, its phase; the run's status is decided here, in `finish`, `park` and
`hand_back`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from segport.clock import as_utc
from segport.errors import unexpected
from segport.runs.events import append_event
from segport.runs.status import BatchState, Phase, Status, Wait
from segport.store import Store
from segport.store.tables import RUN_COUNTERS, run_batches, run_events, run_rows, runs
from segport.wording import count

# How an attempt ended by an unexpected error is recorded: counted by that opening (failed_unexpectedly).
UNEXPECTED = "This attempt failed on an error segport did not expect"


class Stop(Exception):
    """The run must stop at this batch boundary: reason is cancel, shutdown or lost."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LeaseLost(Stop):
    """Another worker holds the run now (or it ended): this one must not write to it again."""

    def __init__(self) -> None:
        super().__init__("lost")


# The columns of `runs` the engine may report into; status, lease and timing columns are decided here.
REPORTED = frozenset(
    {
        *RUN_COUNTERS,
        "phase",
        "stream_position",
        "profiles_from",
        "profiles_to",
        "fingerprint",
        "incremental",
        "list_size_before",
        "removal_planned",
        "removal_list_id",
    }
)


def _now() -> datetime:
    return datetime.now(UTC)


class RunRecord:
    def __init__(self, store: Store, run_id: int, generation: int, lease_seconds: float) -> None:
        self.store = store
        self.run_id = run_id
        self.generation = generation
        self.lease_seconds = lease_seconds
        self._lock = threading.Lock()
        self.last_renewal = time.monotonic()
        # The longest gap between two renewals of the lease, and the longest a renewal waited for the
        # database: the lease must never come near expiring while the run is alive (bench/export_1m.py).
        self.longest_gap = 0.0
        self.longest_wait = 0.0
        # Renewals that wrote nothing else (the heartbeat of a quiet run, a check before sending that found
        # less than half the lease left), and the longest any of them waited for the database.
        self.renewals = 0
        self.longest_renewal_wait = 0.0
        self.lost = False  # a fenced write found the run held by another generation

    # -- fencing -------------------------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A transaction that writes only while this worker still holds the run; it also renews the lease."""
        asked = time.monotonic()
        with self.store.begin() as db:
            self._fence(db, asked)
            yield db

    def _fence(self, db: Connection, asked: float) -> None:
        held = db.execute(
            update(runs)
            .where(
                runs.c.id == self.run_id,
                runs.c.lease_generation == self.generation,
                runs.c.status == Status.PROCESSING,
            )
            .values(lease_expires_at=_now() + timedelta(seconds=self.lease_seconds))
        )
        if held.rowcount != 1:
            self.lost = True
            raise LeaseLost()
        renewed = time.monotonic()
        with self._lock:
            self.longest_wait = max(self.longest_wait, renewed - asked)
            self.longest_gap = max(self.longest_gap, renewed - self.last_renewal)
            self.last_renewal = renewed

    def renew(self) -> bool:
        """Extend the lease now; False when the run is no longer this worker's."""
        asked = time.monotonic()
        try:
            with self.transaction():
                pass
        except LeaseLost:
            return False
        with self._lock:
            self.renewals += 1
            self.longest_renewal_wait = max(self.longest_renewal_wait, time.monotonic() - asked)
        return True

    def ensure_held(self) -> bool:
        """Whether the run is still this worker's for at least half the lease; False when it was lost.

        A read first: on SQLite it does not wait for the write lock that the run's next batch may be holding
        while it is prepared. Only a lease with less than half of it left is renewed by a fenced write. Read
        from the database, not from this process's clock: a process paused (or a machine suspended) past its
        lease must find out, whatever its own clock says.
        """
        if self.lost:
            return False
        with self.store.read() as db:
            row = db.execute(
                select(runs.c.lease_generation, runs.c.status, runs.c.lease_expires_at).where(runs.c.id == self.run_id)
            ).first()
        if row is None or row.lease_generation != self.generation or row.status != Status.PROCESSING:
            self.lost = True
            return False
        left = as_utc(row.lease_expires_at) - _now() if row.lease_expires_at is not None else timedelta(0)
        if left >= timedelta(seconds=self.lease_seconds / 2):
            return True
        return self.renew()

    def quiet_for(self) -> float:
        """Seconds since the lease was last renewed (by a write of the run or by the heartbeat)."""
        with self._lock:
            return time.monotonic() - self.last_renewal

    # -- facts the engine reports ----------------------------------------------------------------------------

    def event(self, message: str, level: str = "info", db: Connection | None = None) -> None:
        with self._within(db) as connection:
            append_event(connection, self.run_id, message, level)

    def report(self, db: Connection | None = None, **values: Any) -> None:
        """Counters, phase, scope and removal facts of the run."""
        unknown = set(values) - REPORTED
        if unknown:
            raise ValueError(f"the engine does not report {sorted(unknown)}")
        if "phase" in values:
            values["phase"] = Phase(values["phase"])
        with self._within(db) as connection:
            connection.execute(update(runs).where(runs.c.id == self.run_id).values(**values))

    def read(self) -> Any:
        """The run's row as it stands."""
        with self.store.read() as db:
            return db.execute(select(runs).where(runs.c.id == self.run_id)).mappings().one()

    def batches(self, run_id: int | None = None) -> Sequence[Any]:
        """This run's batches (or an earlier run's), in order."""
        wanted = self.run_id if run_id is None else run_id
        with self.store.read() as db:
            return (
                db.execute(select(run_batches).where(run_batches.c.run_id == wanted).order_by(run_batches.c.number))
                .mappings()
                .all()
            )

    def prepare_batch(self, db: Connection, number: int, *, contacts: int, body_bytes: int, stream_end: int) -> None:
        """A batch about to be sent, recorded (with its members, by the caller) before it leaves."""
        db.execute(
            delete(run_batches).where(
                run_batches.c.run_id == self.run_id,
                run_batches.c.number == number,
                run_batches.c.state == BatchState.PREPARED,
            )
        )
        db.execute(
            insert(run_batches).values(
                run_id=self.run_id,
                number=number,
                contacts=contacts,
                body_bytes=body_bytes,
                stream_end=stream_end,
                state=BatchState.PREPARED,
            )
        )

    def accept_batch(self, db: Connection, number: int, *, activity_id: str, state: str) -> None:
        db.execute(
            update(run_batches)
            .where(run_batches.c.run_id == self.run_id, run_batches.c.number == number)
            .values(activity_id=activity_id, state=BatchState(state), accepted_at=_now())
        )

    def forget_prepared(
        self, db: Connection, numbers: Sequence[int] | None = None, *, run_id: int | None = None
    ) -> None:
        """Prepared batches that were certainly not sent (refused, never posted), or whose members now wait to be
        reconciled: these numbers, or all prepared ones (of this run, or an earlier one it settles)."""
        statement = delete(run_batches).where(
            run_batches.c.run_id == (run_id or self.run_id), run_batches.c.state == BatchState.PREPARED
        )
        if numbers is not None:
            statement = statement.where(run_batches.c.number.in_(list(numbers)))
        db.execute(statement)

    def batch_finished(
        self,
        db: Connection,
        number: int,
        *,
        state: str,
        person_count: int | None,
        error_count: int | None,
        cannot_add_count: int | None,
        refused: int | None,
        error_messages: str | None,
        run_id: int | None = None,
    ) -> None:
        """A batch's activity ended and its outcome is acknowledged (this run's, or an earlier run's it settles)."""
        db.execute(
            update(run_batches)
            .where(run_batches.c.run_id == (run_id or self.run_id), run_batches.c.number == number)
            .values(
                state=BatchState(state),
                finished_at=_now(),
                person_count=person_count,
                error_count=error_count,
                cannot_add_count=cannot_add_count,
                refused=refused,
                error_messages=error_messages,
            )
        )

    def add_rows(self, db: Connection, rows: Sequence[dict[str, Any]], *, run_id: int | None = None) -> None:
        """Rows not sent, not added or removed: dicts of profile_key, email, reason, detail."""
        if rows:
            owner = run_id or self.run_id
            db.execute(insert(run_rows), [{**row, "run_id": owner} for row in rows])
            _count_rows(db, owner, len(rows))

    def copy_rows(self, db: Connection, select_rows: Any) -> None:
        """Rows not sent that a SELECT gives as (this run's id, profile_key, email, reason, detail)."""
        db.execute(insert(run_rows).from_select(["run_id", "profile_key", "email", "reason", "detail"], select_rows))
        # Counted again, once per run: PostgreSQL's driver gives no row count for an INSERT ... SELECT (-1).
        counted = select(func.count()).select_from(run_rows).where(run_rows.c.run_id == self.run_id)
        db.execute(update(runs).where(runs.c.id == self.run_id).values(rows_not_sent=counted.scalar_subquery()))

    def holding_list_deleted(self, db: Connection, *, run_id: int | None = None) -> None:
        """The temporary removal list of an earlier run this run settles is gone from the account (or was never
        made): nothing of that run's removal is left to settle."""
        db.execute(
            update(runs).where(runs.c.id == (run_id or self.run_id)).values(removal_list_id=None, removal_planned=None)
        )

    def note_for(self, db: Connection, run_id: int, message: str, level: str = "info") -> None:
        """An event on an earlier run of the export that this run settles (no worker holds that run any more)."""
        append_event(db, run_id, message, level)

    # -- waiting -------------------------------------------------------------------------------------------

    def waiting(self, reason: Wait, detail: str, until: datetime | None) -> None:
        """The run is waiting out throttling or an outage while it holds its worker (shown on its page)."""
        with self.transaction() as db:
            db.execute(
                update(runs)
                .where(runs.c.id == self.run_id)
                .values(wait_reason=reason, wait_detail=detail, wait_until=until)
            )

    def not_waiting(self) -> None:
        with self.transaction() as db:
            db.execute(
                update(runs).where(runs.c.id == self.run_id).values(wait_reason=None, wait_detail=None, wait_until=None)
            )

    # -- endings: the run's status is decided here -----------------------------------------------------------

    def finish(self, status: Status, message: str, level: str = "info") -> None:
        if status not in (Status.SUCCESSFUL, Status.SKIPPED, Status.FAILURE, Status.CANCELED):
            raise ValueError(f"a run finishes Successful, Skipped, Failure or Canceled, not {status}")
        with self.transaction() as db:
            db.execute(
                update(runs)
                .where(runs.c.id == self.run_id)
                .values(
                    status=status,
                    message=message,
                    finished_at=_now(),
                    phase=Phase.DONE,
                    lease_owner=None,
                    lease_expires_at=None,
                    wait_reason=None,
                    wait_detail=None,
                    wait_until=None,
                )
            )
            with self._lock:
                wait, gap = self.longest_wait, self.longest_gap
                renewals, renewal_wait = self.renewals, self.longest_renewal_wait
            append_event(
                db,
                self.run_id,
                f"The lease ({self.lease_seconds:.0f} s) was renewed by every write: the longest wait for one was "
                f"{wait:.2f} s, the longest time between two {gap:.1f} s. Renewed on its own "
                f"{count(renewals, 'time', 'times')}, the longest renewal waiting {renewal_wait:.2f} s.",
            )
            append_event(db, self.run_id, f"{status}: {message}", level)

    def park(self, reason: Wait, detail: str, until: datetime | None) -> None:
        """Give the run back to the queue, not claimable until `until` (quota) or a reauthorization."""
        if not reason.parks:
            raise ValueError(f"a run is parked for the quota or a reauthorization, not {reason}")
        with self.transaction() as db:
            db.execute(
                update(runs)
                .where(runs.c.id == self.run_id)
                .values(
                    status=Status.QUEUED,
                    lease_owner=None,
                    lease_expires_at=None,
                    wait_reason=reason,
                    wait_detail=detail,
                    wait_until=until,
                    message=detail,
                )
            )
            append_event(db, self.run_id, f"Waiting: {detail}", "warning")

    def hand_back(self, message: str) -> None:
        """Queue the run again for the next worker (this one is shutting down); its checkpoints stay."""
        with self.transaction() as db:
            db.execute(
                update(runs)
                .where(runs.c.id == self.run_id)
                .values(status=Status.QUEUED, lease_owner=None, lease_expires_at=None)
            )
            append_event(db, self.run_id, message, "warning")

    def failed_unexpectedly(self, error: Exception) -> int:
        """Record an attempt ended by an error segport did not expect (its type and first line, which the run's
        page shows); how many of the run's attempts have ended so."""
        with self.transaction() as db:
            append_event(db, self.run_id, f"{UNEXPECTED} ({unexpected(error)}).", "error")
            return int(
                db.execute(
                    select(func.count()).where(
                        run_events.c.run_id == self.run_id, run_events.c.message.startswith(UNEXPECTED)
                    )
                ).scalar_one()
            )

    def let_go(self) -> None:
        """After an unexpected error: expire the lease so the next attempt resumes at once (best effort)."""
        with self.store.begin() as db:
            db.execute(
                update(runs)
                .where(runs.c.id == self.run_id, runs.c.lease_generation == self.generation)
                .values(lease_expires_at=_now() - timedelta(seconds=1))
            )

    # -- helpers -------------------------------------------------------------------------------------------

    @contextmanager
    def _within(self, db: Connection | None) -> Iterator[Connection]:
        if db is not None:
            yield db  # the caller's transaction, fenced when it was opened
            return
        with self.transaction() as connection:
            yield connection


def _count_rows(db: Connection, run_id: int, added: int) -> None:
    """runs.rows_not_sent follows the run's rows in the transaction that adds them."""
    if added:
        db.execute(update(runs).where(runs.c.id == run_id).values(rows_not_sent=runs.c.rows_not_sent + added))
