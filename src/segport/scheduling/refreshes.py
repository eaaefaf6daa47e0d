"""The system refresh as a process people can see and start: its history (the original's System > Status)
and "Refresh now" (a refresh queued at once, worked like a scheduled one: segments evaluated first, then the
exports that follow the refresh are queued)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select

from segport import audit
from segport.clock import as_utc
from segport.runs.status import UNFINISHED
from segport.store import Store
from segport.store.tables import refreshes


@dataclass(frozen=True)
class RefreshView:
    id: int
    trigger: str  # "schedule" (a tick of the system schedule) or "manual" (Refresh now)
    status: str  # Queued, Processing, Successful, Failure
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    message: str | None

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


def refresh_now(store: Store, *, actor: str) -> tuple[int, bool]:
    """Queue a refresh now, or join the one queued or in progress: (its id, joined)."""
    with store.begin() as db:
        waiting = db.execute(
            select(refreshes.c.id).where(refreshes.c.status.in_(UNFINISHED)).order_by(refreshes.c.id).limit(1)
        ).scalar()
        if waiting is not None:
            return int(waiting), True
        refresh_id = db.execute(
            insert(refreshes).values(status="Queued", created_at=datetime.now(UTC))
        ).inserted_primary_key[0]  # type: ignore[index]
        audit.record(db, actor, "refresh.queued", "system refresh", refresh_id=refresh_id)
    return int(refresh_id), False


def list_refreshes(store: Store, *, limit: int = 20) -> list[RefreshView]:
    """The latest refreshes, newest first."""
    with store.read() as db:
        rows = db.execute(select(refreshes).order_by(refreshes.c.id.desc()).limit(limit)).mappings().all()
    return [
        RefreshView(
            row["id"],
            "schedule" if row["tick_key"] else "manual",
            row["status"],
            as_utc(row["created_at"]),
            as_utc(row["started_at"]) if row["started_at"] else None,
            as_utc(row["finished_at"]) if row["finished_at"] else None,
            row["message"],
        )
        for row in rows
    ]
