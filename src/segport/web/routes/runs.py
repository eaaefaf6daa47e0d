"""System > Status: every run, its live progress, details, the rows not sent (CSV), cancel."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse

from segport.errors import InvalidInput
from segport.exports import service as exports
from segport.exports.normalize import REASONS
from segport.permissions import may_edit_named
from segport.runs import queue
from segport.runs.history import list_runs, rows_csv, run_progress, show_run
from segport.runs.rows import PER_PAGE, RowsPage, rows_page
from segport.scheduling.refreshes import list_refreshes
from segport.server.params import Id
from segport.users.sessions import add_notice
from segport.web.pages import render
from segport.web.session import PageSession, Post, StoreDep, allow

router = APIRouter(include_in_schema=False)
STATUSES = ("Queued", "Processing", "Successful", "Skipped", "Failure", "Canceled")


RUNS_PER_PAGE = 50


@router.get("/runs")
def list_page(
    request: Request, session: PageSession, store: StoreDep, export: str = "", status: str = "", before: str = ""
) -> Response:
    # Filtered in SQL before the page is cut, newest first, paged by the last run's id (a run that arrives
    # meanwhile neither repeats nor hides one); a status or cursor the page did not offer is ignored.
    chosen = status if status in STATUSES else ""
    cursor = int(before) if before.isdigit() and 0 < int(before) < 2**31 else None
    runs = list_runs(store, export=export or None, status=chosen or None, before=cursor, limit=RUNS_PER_PAGE)
    older = ""
    if len(runs) == RUNS_PER_PAGE:
        kept = {"export": export, "status": chosen, "before": str(runs[-1].id)}
        older = urlencode({key: value for key, value in kept.items() if value})
    return render(
        request,
        "runs/list.html",
        session,
        runs=runs,
        statuses=STATUSES,
        names=exports.export_names(store),
        export=export,
        status=chosen,
        older=older,
        refreshes=list_refreshes(store, limit=10),
    )


@router.get("/runs/{run_id}")
def detail_page(
    request: Request,
    run_id: Id,
    session: PageSession,
    store: StoreDep,
    search: str = "",
    reason: str = "",
    offset: int = 0,
    per: int = PER_PAGE,
) -> Response:
    run = show_run(store, run_id=run_id)
    manage = may_edit_named(store, session.user, run.export)
    page, problem = None, None
    if manage and run.rows_not_sent:  # the rows hold email addresses: shown to those who manage the export
        try:
            page = rows_page(store, run_id=run_id, search=search, reason=reason, offset=max(0, offset), limit=per)
        except InvalidInput as error:
            problem = error
            page = rows_page(store, run_id=run_id)
    return render(
        request,
        "runs/detail.html",
        session,
        run=run,
        manage=manage,
        rows=page,
        rows_problem=problem,
        reasons=REASONS,
        page_link=lambda **changes: _rows_link(run_id, page, **changes),
    )


def _rows_link(run_id: int, page: RowsPage | None, **changes: object) -> str:
    """The run page showing other rows: the same search and reason unless changed, at another offset."""
    wanted: dict[str, object] = {"search": page.search, "reason": page.reason} if page else {}
    if page is not None and page.limit != PER_PAGE:
        wanted["per"] = page.limit
    wanted.update(changes)
    query = urlencode({key: value for key, value in wanted.items() if value not in ("", None, 0)})
    return f"/runs/{run_id}" + (f"?{query}" if query else "") + "#rows"


@router.get("/runs/{run_id}/progress")
def progress(run_id: Id, session: PageSession, store: StoreDep) -> Response:
    """What the run page polls while the run is queued or processing."""
    return JSONResponse(run_progress(store, run_id=run_id))


@router.get("/runs/{run_id}/rows.csv")
def rows(run_id: Id, session: PageSession, store: StoreDep) -> Response:
    """The rows not sent, with reasons; they hold email addresses, so viewers may not download them."""
    run = show_run(store, run_id=run_id, with_details=False)
    allow(session, "admin", "contributor")
    if not may_edit_named(store, session.user, run.export):
        allow(session, "admin")
    headers = {"Content-Disposition": f'attachment; filename="run-{run_id}-rows-not-sent.csv"'}
    return StreamingResponse(rows_csv(store, run_id=run_id), media_type="text/csv", headers=headers)


@router.post("/runs/{run_id}/cancel")
def cancel(run_id: Id, posted: Post, store: StoreDep) -> Response:
    run = show_run(store, run_id=run_id, with_details=False)
    if not may_edit_named(store, posted.session.user, run.export):
        allow(posted.session, "admin")
    outcome = queue.cancel(store, run_id=run_id, actor=posted.session.user.name)
    text = {
        "canceled": f"Run {run_id} is canceled; it had not started.",
        "requested": f"Run {run_id} stops at its next batch; what was already sent is recorded.",
    }[outcome]
    add_notice(store, posted.session, "info", text)
    return RedirectResponse(f"/runs/{run_id}", status_code=303)
