"""Reading runs for people: the history of an export, one run's detail and events, and the rows it did not send."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from segport.clock import as_utc
from segport.csv_text import csv_chunks
from segport.errors import UnknownName
from segport.runs.status import NO_SUCH_RUN, UNFINISHED
from segport.store import Store
from segport.store.tables import RUN_COUNTERS, exports, run_batches, run_events, run_rows, runs


@dataclass(frozen=True)
class RunView:
    id: int
    export: str
    status: str
    trigger: str
    triggered_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    message: str | None
    counts: dict[str, int]
    batches: list[dict[str, Any]]
    events: list[dict[str, Any]]
    rows_not_sent: int
    phase: str = "done"
    wait_reason: str | None = None  # what the run waits for (status.Wait), while it waits
    wait_detail: str | None = None
    wait_until: datetime | None = None

    @property
    def waiting_text(self) -> str | None:
        return waiting_text(self.wait_reason, self.wait_detail, self.wait_until)

    @property
    def duration_seconds(self) -> float | None:
        started, finished = self.started_at, self.finished_at
        if started is None or finished is None:
            return None
        # Both come from one row, so both are naive (SQLite's UTC) or both aware: made aware only when they
        # differ, as `replace` costs more than the subtraction (the runs page shows 50 durations).
        if (started.tzinfo is None) != (finished.tzinfo is None):
            started, finished = as_utc(started), as_utc(finished)
        return (finished - started).total_seconds()


WAITS = {
    "throttled": "Waiting out throttling by Constant Contact (429 answers or a full activity queue)",
    "outage": "Waiting for Constant Contact to answer again (no answer, or 5xx answers)",
    "quota": "Parked until the daily request quota resets; it resumes by itself",
    "reauthorization": "Parked until an admin signs in to Constant Contact again (Reauthorize on the connection)",
    "warehouse": "Waiting for the profiles' warehouse to answer again; the run then resumes from its last batch",
}


def waiting_text(reason: str | None, detail: str | None, until: datetime | None) -> str | None:
    """What a waiting run waits for, for people: the reason, until when (UTC), and the last answer seen."""
    if not reason:
        return None
    text = WAITS.get(reason, f"Waiting ({reason})")
    if until is not None:
        text += f", until {as_utc(until):%Y-%m-%d %H:%M:%S} UTC"
    return f"{text}. {detail}" if detail else f"{text}."


def _runs_with_counts() -> Any:
    """Runs with their export's name (and, in runs.rows_not_sent, how many rows each did not send)."""
    return select(runs, exports.c.name.label("export_name")).join(exports, exports.c.id == runs.c.export_id)


def list_runs(
    store: Store,
    *,
    export: str | None = None,
    status: str | None = None,
    before: int | None = None,
    limit: int = 50,
) -> list[RunView]:
    """The latest runs, newest first, without batches and events: one query. The filters apply before the
    limit (the 50 latest failures, not the failures among the 50 latest runs); `before` is the cursor: the runs
    older than that run id, so a caller pages with the last id it received."""
    query = _runs_with_counts().order_by(runs.c.id.desc()).limit(limit)
    if export is not None:
        query = query.where(exports.c.name == export)
    if status is not None:
        query = query.where(runs.c.status == status)
    if before is not None:
        query = query.where(runs.c.id < before)
    with store.read() as db:
        return [_view(row, [], []) for row in db.execute(query).mappings()]


def show_run(store: Store, *, run_id: int, with_details: bool = True) -> RunView:
    with store.read() as db:
        row = db.execute(_runs_with_counts().where(runs.c.id == run_id)).mappings().first()
        if row is None:
            raise UnknownName(f"There is no run {run_id}.", hint=NO_SUCH_RUN, field="run")
        if not with_details:
            return _view(row, [], [])
        batches = db.execute(
            select(run_batches).where(run_batches.c.run_id == run_id).order_by(run_batches.c.number)
        ).mappings()
        events = db.execute(
            select(run_events).where(run_events.c.run_id == run_id).order_by(run_events.c.id)
        ).mappings()
        return _view(row, [dict(batch) for batch in batches], [dict(entry) for entry in events])


def _view(row: Any, batches: list[dict[str, Any]], events: list[dict[str, Any]]) -> RunView:
    return RunView(
        row["id"],
        row["export_name"],
        row["status"],
        row["trigger"],
        row["triggered_by"],
        row["created_at"],
        row["started_at"],
        row["finished_at"],
        row["message"],
        {name: row[name] for name in RUN_COUNTERS},
        batches,
        events,
        int(row["rows_not_sent"]),
        row["phase"],
        row["wait_reason"],
        row["wait_detail"],
        row["wait_until"],
    )


def iter_rows_not_sent(store: Store, *, run_id: int) -> Iterator[tuple[str, str | None, str, str | None]]:
    show_run(store, run_id=run_id, with_details=False)
    with store.engine.connect() as db:
        result = db.execution_options(yield_per=5000).execute(
            select(run_rows.c.profile_key, run_rows.c.email, run_rows.c.reason, run_rows.c.detail)
            .where(run_rows.c.run_id == run_id)
            .order_by(run_rows.c.id)
        )
        for row in result:
            yield row[0], row[1], row[2], row[3]


def rows_csv(store: Store, *, run_id: int) -> Iterator[str]:
    """The run's rows not sent or not added, as CSV text, header first."""
    return csv_chunks(
        ["profile_key", "email", "reason", "detail"],
        iter_rows_not_sent(store, run_id=run_id),
        raw=store.settings.csv_raw,
    )


def run_progress(store: Store, *, run_id: int) -> dict[str, Any]:
    """A run's state for a page to follow it live: status, phase, counters, batches, the latest event."""
    with store.read() as db:
        row = db.execute(select(runs).where(runs.c.id == run_id)).mappings().first()
        if row is None:
            raise UnknownName(f"There is no run {run_id}.", hint=NO_SUCH_RUN, field="run")
        batches = db.execute(
            select(
                func.count(),
                func.coalesce(func.sum(run_batches.c.contacts), 0),
                func.count(run_batches.c.finished_at),
            ).where(run_batches.c.run_id == run_id)
        ).one()
        latest = db.execute(
            select(run_events.c.message, run_events.c.level)
            .where(run_events.c.run_id == run_id)
            .order_by(run_events.c.id.desc())
            .limit(1)
        ).first()
    return {
        "id": run_id,
        "status": row["status"],
        "phase": row["phase"],
        "counts": {name: row[name] for name in RUN_COUNTERS},
        "batches_sent": int(batches[0]),
        "contacts_in_batches": int(batches[1]),
        "batches_finished": int(batches[2]),
        "latest_event": latest[0] if latest else None,
        "finished": row["status"] not in UNFINISHED,
        "message": row["message"],
        "wait_reason": row["wait_reason"],
        "wait_detail": row["wait_detail"],
        "wait_until": as_utc(row["wait_until"]).isoformat() if row["wait_until"] else None,
        "waiting_text": waiting_text(row["wait_reason"], row["wait_detail"], row["wait_until"]),
    }
