"""A run's event log: append-only lines with a level, written inside the caller's transaction.

Only the runs package calls `append_event` while a run is held (record.py fences those writes); `annotate`
adds a line to a run that has ended (an alert, a webhook delivery), which no worker holds any more.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, insert

from segport.store import Store
from segport.store.tables import run_events

LEVELS = ("info", "warning", "error")


def append_event(db: Connection, run_id: int, message: str, level: str = "info") -> None:
    if level not in LEVELS:
        raise ValueError(f"an event's level is one of {LEVELS}, not {level!r}")
    db.execute(insert(run_events).values(run_id=run_id, at=datetime.now(UTC), level=level, message=message))


def annotate(store: Store, run_id: int, message: str, level: str = "info") -> None:
    """Add a line to the log of a run that has ended."""
    with store.begin() as db:
        append_event(db, run_id, message, level)
