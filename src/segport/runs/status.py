"""A run's status, phase and what it may wait for: the only values the database accepts (CHECK constraints)."""

from __future__ import annotations

import enum


class Status(enum.StrEnum):
    QUEUED = "Queued"
    PROCESSING = "Processing"
    SUCCESSFUL = "Successful"
    SKIPPED = "Skipped"
    FAILURE = "Failure"
    CANCELED = "Canceled"

    @property
    def finished(self) -> bool:
        return self not in UNFINISHED


UNFINISHED = (Status.QUEUED, Status.PROCESSING)
FINISHED = (Status.SUCCESSFUL, Status.SKIPPED, Status.FAILURE, Status.CANCELED)


class Phase(enum.StrEnum):
    """Where a run that stopped half-way picks up again."""

    SENDING = "sending"  # reading members and sending batches
    POLLING = "polling"  # waiting for the accepted batches' activities, then acknowledging them
    REMOVING = "removing"  # mirror mode: taking who left off the list
    DONE = "done"


class Wait(enum.StrEnum):
    """What a run is waiting for. Throttling and outages (Constant Contact's or the profiles' warehouse's) are
    waited out while the run holds its worker; a run waiting for the quota or for a person is parked: Queued, not
    claimable until the wait is over."""

    THROTTLED = "throttled"  # Constant Contact answered 429 throttled, or its activity queue was full
    OUTAGE = "outage"  # Constant Contact could not be reached, or answered 5xx
    WAREHOUSE = "warehouse"  # the profiles' warehouse could not be reached, dropped the connection, or timed out
    QUOTA = "quota"  # the API key's daily requests are spent: parked until 00:00 UTC
    REAUTHORIZATION = "reauthorization"  # the connection's sign-in no longer works: parked until reauthorized

    @property
    def parks(self) -> bool:
        return self in (Wait.QUOTA, Wait.REAUTHORIZATION)


class BatchState(enum.StrEnum):
    """A batch is `prepared` (its members recorded) before it is sent, then takes its activity's state."""

    PREPARED = "prepared"
    INITIALIZED = "initialized"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"

    @property
    def finished(self) -> bool:
        return self in (BatchState.COMPLETED, BatchState.FAILED, BatchState.CANCELLED, BatchState.TIMED_OUT)


def values(kind: type[enum.StrEnum]) -> list[str]:
    return [member.value for member in kind]


# The hint of every "There is no run N": each face says where its list of runs is.
NO_SUCH_RUN = "Check the number in the list of runs."
