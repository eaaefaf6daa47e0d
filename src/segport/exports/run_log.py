"""A run's row and its event log: timestamps, events, status changes, batches. Shared by the run's phases."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update

from segport.store import Store
from segport.store.tables import run_batches, run_events, runs


def now() -> datetime:
    return datetime.now(UTC)


def event(store: Store, run_id: int, message: str, level: str = "info") -> None:
    with store.begin() as db:
        db.execute(insert(run_events).values(run_id=run_id, at=now(), level=level, message=message))


def finish(store: Store, run_id: int, status: str, message: str, level: str = "info") -> None:
    with store.begin() as db:
        db.execute(
            update(runs)
            .where(runs.c.id == run_id)
            .values(status=status, message=message, finished_at=now(), phase="done", lease_owner=None)
        )
        db.execute(insert(run_events).values(run_id=run_id, at=now(), level=level, message=f"{status}: {message}"))


def set_values(store: Store, run_id: int, **values: Any) -> None:
    with store.begin() as db:
        db.execute(update(runs).where(runs.c.id == run_id).values(**values))


def batches_of(store: Store, run_id: int) -> Sequence[Any]:
    with store.begin() as db:
        return (
            db.execute(select(run_batches).where(run_batches.c.run_id == run_id).order_by(run_batches.c.number))
            .mappings()
            .all()
        )
