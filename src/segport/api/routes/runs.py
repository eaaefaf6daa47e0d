"""Runs: the history with filters, one run's detail and events, the rows not sent, cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse

from segport import outputs
from segport.api import answers
from segport.api.auth import CurrentUser, StoreDep
from segport.api.paging import last_of_full_page, link_next
from segport.limits import LARGEST_INTEGER
from segport.permissions import may_manage
from segport.runs import queue
from segport.runs.history import list_runs, rows_csv, show_run
from segport.runs.rows import PER_PAGE, rows_page
from segport.runs.status import Status
from segport.server.params import Id

router = APIRouter()


@router.get("/api/runs", tags=["runs"])
def runs(
    user: CurrentUser,
    store: StoreDep,
    response: Response,
    export: str | None = None,
    status: Status | None = None,
    before: Annotated[
        int | None, Query(ge=1, le=LARGEST_INTEGER, description="The cursor: runs older than this run id.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[outputs.Run]:
    """Runs, newest first; filter by export and status (before the limit). A full page carries a `Link`
    header whose rel="next" URL asks for the page after it (`before` the last run's id)."""
    found = list_runs(store, export=export, status=status, before=before, limit=limit)
    last = last_of_full_page([view.id for view in found], limit)
    link_next(response, "/api/runs", last, limit, export=export, status=status)
    return [outputs.run(view) for view in found]


@router.get("/api/runs/{run_id}", tags=["runs"])
def run_detail(run_id: Id, user: CurrentUser, store: StoreDep) -> outputs.RunDetail:
    """One run with its batches and events."""
    return outputs.run_detail(show_run(store, run_id=run_id))


@router.get("/api/runs/{run_id}/rows.csv", tags=["runs"], response_class=StreamingResponse, responses=answers.CSV)
def run_rows(run_id: Id, user: CurrentUser, store: StoreDep) -> StreamingResponse:
    """The rows not sent, not added or removed, with the reason (emails: admins and contributors only)."""
    view = show_run(store, run_id=run_id, with_details=False)
    may_manage(store, user, view.export)
    headers = {"Content-Disposition": f'attachment; filename="run-{run_id}-rows.csv"'}
    return StreamingResponse(rows_csv(store, run_id=run_id), media_type="text/csv", headers=headers)


@router.get("/api/runs/{run_id}/rows", tags=["runs"])
def run_rows_page(
    run_id: Id,
    user: CurrentUser,
    store: StoreDep,
    search: str = "",
    reason: str = "",
    offset: int = 0,
    limit: int = PER_PAGE,
) -> answers.RowsPage:
    """A page of the rows not sent, not added or removed: `search` looks in profile keys and emails (any case),
    `reason` keeps one reason; `reasons` counts every reason of the run (emails: admins and contributors)."""
    view = show_run(store, run_id=run_id, with_details=False)
    may_manage(store, user, view.export)
    page = rows_page(store, run_id=run_id, search=search, reason=reason, offset=offset, limit=limit)
    return answers.RowsPage(
        rows=[outputs.Row.model_validate(row) for row in page.rows],
        total=page.total,
        reasons=page.reasons,
        offset=page.offset,
        limit=page.limit,
        next_offset=page.next_offset,
    )


@router.post("/api/runs/{run_id}/cancel", tags=["runs"])
def cancel_run(run_id: Id, user: CurrentUser, store: StoreDep) -> answers.Canceled:
    view = show_run(store, run_id=run_id, with_details=False)
    may_manage(store, user, view.export)
    return answers.Canceled(run_id=run_id, outcome=queue.cancel(store, run_id=run_id, actor=user.name))
