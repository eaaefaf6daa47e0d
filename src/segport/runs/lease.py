"""Keeping a run's lease, and what may stop a run between two batches: a cancel, a shutdown, a lost lease.

Every fenced write of the run renews its lease (record.py); the heartbeat thread here renews it only when the
run has written nothing for a third of the lease (it is waiting for Constant Contact, say). So on SQLite the
renewal never queues behind the run's own writes, and a busy run needs no renewal at all. If another worker
has taken the run over (this process was paused past its lease), the next write or heartbeat finds out and the
run stops at its next batch boundary without touching what the new owner does.
"""

from __future__ import annotations

import logging
import threading
import time

from segport.runs import queue
from segport.runs.record import RunRecord, Stop
from segport.runs.status import Status

logger = logging.getLogger(__name__)


class RunControl:
    def __init__(
        self,
        record: RunRecord,
        shutdown: threading.Event | None = None,
        cancel_check_seconds: float = 1.0,
    ) -> None:
        self.record = record
        self._shutdown = shutdown or threading.Event()
        self._lost = threading.Event()
        self._closed = threading.Event()
        self._cancel_every = cancel_check_seconds
        self._last_check = 0.0
        self._cancel_requested = False
        self.renewals = 0  # by the heartbeat: only while the run itself wrote nothing for a third of the lease
        self._thread = threading.Thread(target=self._beat, name=f"run-{record.run_id}-lease", daemon=True)
        self._thread.start()

    @property
    def lost(self) -> bool:
        return self._lost.is_set() or self.record.lost

    def check(self) -> None:
        """Raise Stop when the run must stop now (called between batches)."""
        if self.lost:
            raise Stop("lost")
        if self._shutdown.is_set():
            raise Stop("shutdown")
        if self.cancel_requested():
            raise Stop("cancel")

    def cancel_requested(self) -> bool:
        """Whether someone asked to cancel the run (read at most once a second, without the write lock)."""
        if not self._cancel_requested and time.monotonic() - self._last_check >= self._cancel_every:
            self._last_check = time.monotonic()
            state = queue.state_of(self.record.store, self.record.run_id)
            self._cancel_requested = state.cancel_requested
            if state.status != Status.PROCESSING:
                self._lost.set()
        return self._cancel_requested

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=5)

    def _beat(self) -> None:
        lease = self.record.lease_seconds
        while not self._closed.wait(min(lease / 6, 5.0)):
            if self.record.quiet_for() < lease / 3:
                continue  # the run's own writes renewed it
            try:
                held = self.record.renew()
                self.renewals += 1
            except Exception:  # a database hiccup: try again at the next beat; the lease has slack for it
                logger.warning("Could not renew the lease of run %s; trying again.", self.record.run_id, exc_info=True)
                continue
            if not held:
                self._lost.set()
                return
