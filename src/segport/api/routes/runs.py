"""Runs: the history with filters, one run's detail and events, the rows not sent, cancel."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from segport.api.auth import CurrentUser, StoreDep, may_manage
from segport.runs import queue
from segport.runs.history import list_runs, rows_csv, show_run
from segport.runs.rows import PER_PAGE, rows_page

router = APIRouter()


def _run(view: Any) -> dict[str, Any]:
    return {
        "id": view.id,
        "export": view.export,
        "status": view.status,
        "trigger": view.trigger,
        "triggered_by": view.triggered_by,
        "created_at": view.created_at,
        "started_at": view.started_at,
        "finished_at": view.finished_at,
        "duration_seconds": view.duration_seconds,
        "message": view.message,
        "counts": view.counts,
        "rows_not_sent": view.rows_not_sent,
    }


@router.get("/api/runs", tags=["runs"])
def runs(
    user: CurrentUser, store: StoreDep, export: str | None = None, status: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Runs, newest first; filter by export and status."""
    found = list_runs(store, export=export, limit=max(1, min(limit, 500)))
    return [_run(view) for view in found if status is None or view.status == status]


@router.get("/api/runs/{run_id}", tags=["runs"])
def run_detail(run_id: int, user: CurrentUser, store: StoreDep) -> dict[str, Any]:
    """One run with its batches and events."""
    view = show_run(store, run_id=run_id)
    return {**_run(view), "batches": view.batches, "events": view.events}


@router.get("/api/runs/{run_id}/rows.csv", tags=["runs"])
def run_rows(run_id: int, user: CurrentUser, store: StoreDep) -> StreamingResponse:
    """The rows not sent, not added or removed, with the reason (emails: admins and contributors only)."""
    view = show_run(store, run_id=run_id, with_details=False)
    may_manage(store, user, view.export)
    headers = {"Content-Disposition": f'attachment; filename="run-{run_id}-rows.csv"'}
    return StreamingResponse(rows_csv(store, run_id=run_id), media_type="text/csv", headers=headers)


@router.get("/api/runs/{run_id}/rows", tags=["runs"])
def run_rows_page(
    run_id: int,
    user: CurrentUser,
    store: StoreDep,
    search: str = "",
    reason: str = "",
    offset: int = 0,
    limit: int = PER_PAGE,
) -> dict[str, Any]:
    """A page of the rows not sent, not added or removed: `search` looks in profile keys and emails (any case),
    `reason` keeps one reason; `reasons` counts every reason of the run (emails: admins and contributors)."""
    view = show_run(store, run_id=run_id, with_details=False)
    may_manage(store, user, view.export)
    page = rows_page(store, run_id=run_id, search=search, reason=reason, offset=offset, limit=limit)
    return {
        "rows": page.rows,
        "total": page.total,
        "reasons": page.reasons,
        "offset": page.offset,
        "limit": page.limit,
        "next_offset": page.next_offset,
    }


@router.post("/api/runs/{run_id}/cancel", tags=["runs"])
def cancel_run(run_id: int, user: CurrentUser, store: StoreDep) -> dict[str, Any]:
    view = show_run(store, run_id=run_id, with_details=False)
    may_manage(store, user, view.export)
    return {"run_id": run_id, "outcome": queue.cancel(store, run_id=run_id, actor=user.name)}
