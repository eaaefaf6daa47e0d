"""A run's lease: renewed by the run's own fenced writes, by the heartbeat only when the run is quiet, so the
renewal never queues behind the run's checkpoints; held through another process's long write."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, text, update

from segport.clock import as_utc
from segport.exports import service as exports
from segport.runs import queue
from segport.runs.lease import RunControl
from segport.runs.record import RunRecord
from segport.store.database import IMMEDIATE
from segport.store.tables import runs
from tests.support.app import App
from tests.support.exporting import ExportWorld
from tests.support.locking import answered_while_held

LEASE = 3.0


def test_a_busy_run_renews_its_lease_by_writing_and_a_quiet_one_by_the_heartbeat(app: App, tmp_path: Path) -> None:
    app.connect("CC")
    ExportWorld(app, tmp_path, count=20)
    run_id, _ = queue.enqueue(app.store, exports.show_export(app.store, name="E").id, trigger="manual", actor="t")
    claimed = queue.claim(app.store, "here:1:a", LEASE, run_id=run_id)
    assert claimed is not None
    record = RunRecord(app.store, run_id, claimed.generation, LEASE)
    control = RunControl(record)
    try:
        for _ in range(15):  # busy for 3 s: every write renews the lease
            record.event("a checkpoint")
            time.sleep(0.2)
        assert control.renewals == 0  # so the heartbeat never had to
        assert queue.claim(app.store, "other:2:b", LEASE) is None
        time.sleep(LEASE * 0.9)  # quiet (waiting for Constant Contact, say): the heartbeat keeps the lease
        assert control.renewals >= 1
        assert queue.claim(app.store, "other:2:b", LEASE) is None
        assert record.longest_gap < LEASE
        if app.store.dialect == "sqlite":
            _hold_the_write_lock(app, seconds=LEASE / 2)
            record.event("written once the other process let go")  # waits for the lock, then renews
            assert LEASE / 3 <= record.longest_wait < LEASE
        assert record.renew() and not control.lost
    finally:
        control.close()


def _hold_the_write_lock(app: App, seconds: float) -> None:
    """Another process takes SQLite's write lock for `seconds` (in a thread, with its own connection)."""
    taken = threading.Event()

    def hold() -> None:
        with app.store.engine.connect() as connection:
            connection.execution_options(**{IMMEDIATE: True})
            with connection.begin():  # BEGIN IMMEDIATE: the write lock is taken here
                connection.execute(text("SELECT 1"))
                taken.set()
                time.sleep(seconds)

    threading.Thread(target=hold, daemon=True).start()
    assert taken.wait(10)


def test_the_check_before_sending_reads_without_waiting_and_renews_only_a_lease_running_out(
    app: App, tmp_path: Path
) -> None:
    app.connect("CC")
    ExportWorld(app, tmp_path, count=5)
    run_id, _ = queue.enqueue(app.store, exports.show_export(app.store, name="E").id, trigger="manual", actor="t")
    claimed = queue.claim(app.store, "here:1:a", 60, run_id=run_id)
    assert claimed is not None
    record = RunRecord(app.store, run_id, claimed.generation, 60)
    if app.store.dialect == "sqlite":
        # The run's next batch holds the write lock while it is prepared: the check must not queue behind it.

        @contextmanager
        def preparing_a_batch() -> Iterator[None]:
            with app.store.engine.connect() as connection:
                connection.execution_options(**{IMMEDIATE: True})
                with connection.begin():
                    connection.execute(text("SELECT 1"))
                    yield

        held_meanwhile, answers = answered_while_held(preparing_a_batch, record.ensure_held)
        assert held_meanwhile and answers == [True]  # answered while the lock was still taken
    # Less than half the lease left: renewed by a fenced write.
    with app.store.begin() as db:
        db.execute(
            update(runs).where(runs.c.id == run_id).values(lease_expires_at=datetime.now(UTC) + timedelta(seconds=5))
        )
    assert record.ensure_held()
    with app.store.read() as db:
        expires = db.execute(select(runs.c.lease_expires_at).where(runs.c.id == run_id)).scalar_one()
    assert as_utc(expires) > datetime.now(UTC) + timedelta(seconds=50)
    # Expired and claimed by another worker (this one was paused past its lease): lost, and it stays lost.
    with app.store.begin() as db:
        db.execute(update(runs).where(runs.c.id == run_id).values(lease_expires_at=datetime.now(UTC) - timedelta(1)))
    assert queue.claim(app.store, "other:2:b", 60, run_id=run_id) is not None
    assert not record.ensure_held() and record.lost
