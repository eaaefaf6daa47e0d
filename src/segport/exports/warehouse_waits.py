"""A run waits for a profiles' warehouse that does not answer, as it waits for Constant Contact.

A warehouse restarting at night, a failover, or a connection dropped mid-read ended the run Failure at once,
and the list stayed half sent until the next scheduled run. Now the run waits, out of the same budget as its
waits for Constant Contact (SEGPORT_RUN_WAIT_SECONDS), and tries again from its last checkpoint: batches
Constant Contact accepted are not sent again, as when a run resumes after a crash. Its page says what it waits
for. Cancel, shutdown and a lost lease end the wait within a second.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from segport import failpoints
from segport.constant_contact.retry import WaitBudget
from segport.errors import WarehouseUnavailable
from segport.exports.context import RunProgress
from segport.runs.lease import RunControl
from segport.runs.record import RunRecord
from segport.runs.status import Wait
from segport.wording import duration

# The pause doubles from SEGPORT_RETRY_BASE_DELAY_SECONDS up to this: each try re-plans the run, and a
# warehouse's restart takes minutes, so trying more often than every five minutes would only add noise.
LONGEST_PAUSE = 300.0
CHECK_EVERY = 1.0  # seconds between two looks for a cancel, a shutdown or a lost lease while waiting


class WarehouseWaits:
    """One run's waits for the profiles' warehouse."""

    def __init__(
        self, record: RunRecord, control: RunControl, progress: RunProgress, budget: WaitBudget, first_pause: float
    ) -> None:
        self._record = record
        self._control = control
        self._progress = progress
        self._budget = budget
        self._first_pause = first_pause
        self.tries = 0  # waits so far in this run
        self.waited = 0.0

    def _next_pause(self) -> float:
        return float(min(LONGEST_PAUSE, self._first_pause * 2 ** min(self.tries, 30)))

    def can_wait(self) -> bool:
        """Whether the run's waiting budget still holds the next pause."""
        return self._budget.left() >= self._next_pause()

    def wait(self, error: WarehouseUnavailable) -> bool:
        """Wait the next pause and return True; False when the budget cannot hold it. Raises Stop when the run
        is canceled, its worker shuts down, or its lease is lost meanwhile."""
        if not self.can_wait():
            return False
        pause = self._next_pause()
        self._budget.spend(pause)
        self.tries += 1
        left = duration(self._budget.left())
        said = error.answer or error.message
        detail = f"{said}; trying again in {pause:.1f} s (try {self.tries + 1}; {left} of waiting left for this run)"
        if self.tries == 1:
            self._record.event(f"Waiting for the profiles' warehouse: {error.message}", "warning")
        self._record.waiting(Wait.WAREHOUSE, detail, datetime.now(UTC) + timedelta(seconds=pause))
        failpoints.point("warehouse-wait")
        self._progress.waiting(f"the profiles' warehouse: {detail}")
        deadline = time.monotonic() + pause
        while (remaining := deadline - time.monotonic()) > 0:
            self._control.check()
            time.sleep(min(CHECK_EVERY, remaining))
        self._control.check()
        self.waited += pause
        self._record.not_waiting()
        self._progress.waiting(None)
        return True

    def gave_up(self, error: WarehouseUnavailable) -> WarehouseUnavailable:
        """The error that ends the run, saying how long it waited (the error itself when it did not wait)."""
        if not self.tries:
            return error
        return WarehouseUnavailable(
            f"{error.message} The run waited {duration(self.waited)} for it ({self.tries} tries), all the waiting "
            "a run may do (SEGPORT_RUN_WAIT_SECONDS).",
            answer=error.answer,
            hint=error.hint,
        )
