"""What may stop a run between two batches: a cancel request, a worker shutting down, a lease lost.

A heartbeat thread renews the run's lease while the run works; if another worker has taken the run over
(this process was paused past its lease), the heartbeat notices and the run stops at its next batch
boundary without touching what the new owner does.
"""

from __future__ import annotations

import logging
import threading
import time

from segport.scheduling import queue
from segport.store import Store

logger = logging.getLogger(__name__)


class Stop(Exception):
    """Raised at a batch boundary: reason is cancel, shutdown or lost."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RunControl:
    def __init__(
        self,
        store: Store,
        run_id: int,
        owner: str,
        lease_seconds: float,
        shutdown: threading.Event | None = None,
        cancel_check_seconds: float = 1.0,
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.owner = owner
        self._lease = lease_seconds
        self._shutdown = shutdown or threading.Event()
        self._lost = threading.Event()
        self._closed = threading.Event()
        self._cancel_every = cancel_check_seconds
        self._last_check = 0.0
        self._thread = threading.Thread(target=self._beat, name=f"run-{run_id}-lease", daemon=True)
        self._thread.start()

    def check(self) -> None:
        """Raise Stop when the run must stop now (called between batches)."""
        if self._lost.is_set():
            raise Stop("lost")
        if self._shutdown.is_set():
            raise Stop("shutdown")
        if time.monotonic() - self._last_check >= self._cancel_every:
            self._last_check = time.monotonic()
            _, cancel_requested, _ = queue.state_of(self.store, self.run_id)
            if cancel_requested:
                raise Stop("cancel")

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=5)

    def _beat(self) -> None:
        while not self._closed.wait(self._lease / 3):
            try:
                held = queue.renew(self.store, self.run_id, self.owner, self._lease)
            except Exception:  # a database hiccup: try again at the next beat; the lease has slack for it
                logger.warning("Could not renew the lease of run %s; trying again.", self.run_id, exc_info=True)
                continue
            if not held:
                self._lost.set()
                return
