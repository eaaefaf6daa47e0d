"""Connections, exports and runs. Contributors work only through connections shared with contributors."""

from __future__ import annotations

import dataclasses
import html
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from pydantic import BaseModel, Field

from segport.api.auth import CurrentUser, StoreDep, can_use, may_edit, may_manage, may_use_connection, require
from segport.api.routes.system import schedule_view
from segport.connections import service as connections
from segport.connections import web_sign_in
from segport.exports import service as exports
from segport.exports.dry_run import dry_run
from segport.exports.runs import list_runs, rows_csv, show_run
from segport.scheduling import queue
from segport.scheduling.calendar import make_schedule
from segport.scheduling.service import run_all, schedule_exports, set_export_schedule
from segport.users.service import User

router = APIRouter()


def _http(request: Request) -> Any:
    return request.app.state.http  # the network seam: None in production, the emulator in tests


# --- connections -----------------------------------------------------------------------------------------


@router.get("/api/connections", tags=["connections"])
def list_connections(user: CurrentUser, store: StoreDep) -> list[dict[str, Any]]:
    """Every connection; the details only of those the caller may use (others: name and type)."""
    found = []
    for view in connections.list_connections(store):
        if can_use(user, view):
            found.append({**dataclasses.asdict(view), "usable": True})
        else:
            found.append({"name": view.name, "kind": view.kind, "usable": False})
    return found


class NewConnection(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    allow_contributors: bool = False
    agreed: bool = Field(description="The data privacy and compliance terms (GET /api/connections/terms) accepted.")


@router.get("/api/connections/terms", tags=["connections"])
def terms(user: CurrentUser) -> dict[str, str]:
    """The data privacy and compliance text a connection's creator agrees to."""
    return {"text": connections.PRIVACY_TEXT}


@router.post("/api/connections", status_code=202, tags=["connections"])
def add_connection(body: NewConnection, request: Request, user: CurrentUser, store: StoreDep) -> dict[str, Any]:
    """Start adding a connection: open `authorize_url` in a browser; Constant Contact comes back to
    /oauth/callback, which saves the connection."""
    require(user, "admin")
    started = web_sign_in.start(
        store,
        request.app.state.settings,
        user=user.name,
        name=body.name,
        purpose="add",
        allow_contributors=body.allow_contributors,
        agreed=body.agreed,
    )
    return {"authorize_url": started.authorize_url, "expires_at": started.expires_at}


@router.post("/api/connections/{name}/reauthorize", status_code=202, tags=["connections"])
def reauthorize(name: str, request: Request, user: CurrentUser, store: StoreDep) -> dict[str, Any]:
    """Sign in to Constant Contact again for this connection (open `authorize_url` in a browser)."""
    require(user, "admin")
    started = web_sign_in.start(store, request.app.state.settings, user=user.name, name=name, purpose="reauthorize")
    return {"authorize_url": started.authorize_url, "expires_at": started.expires_at}


@router.get("/oauth/callback", tags=["connections"], response_class=HTMLResponse, response_model=None)
def oauth_callback(
    request: Request,
    store: StoreDep,
    state: str = "",
    code: str | None = None,
    error: str | None = None,
    error_description: str | None = None,
) -> HTMLResponse | RedirectResponse:
    """Where Constant Contact sends the browser back; the state proves which sign-in it belongs to."""
    from segport.web.session import browser_session  # the web UI's sign-ins come back in their session

    session = browser_session(request)
    finished = web_sign_in.finish(
        store,
        request.app.state.settings,
        state=state,
        code=code,
        error=error,
        error_description=error_description,
        http=_http(request),
        session_digest=session.digest if session else None,
    )
    if finished.pending is not None:
        return RedirectResponse(f"/connections/new/review?pending={finished.pending}", status_code=303)
    if session is not None:
        return RedirectResponse(f"/connections/{quote(finished.name)}?reauthorized=1", status_code=303)
    view = finished.connection
    assert view is not None
    account = html.escape(view.account_name or "your Constant Contact account")
    page = (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>Connected</title>"
        f"<p>The connection <strong>{html.escape(view.name)}</strong> is signed in to {account}. "
        f"You can close this window.</p></html>"
    )
    return HTMLResponse(page)


@router.get("/api/connections/{name}", tags=["connections"])
def show_connection(name: str, user: CurrentUser, store: StoreDep) -> dict[str, Any]:
    may_use_connection(store, user, name)
    return dataclasses.asdict(connections.show_connection(store, name=name))


class ConnectionChange(BaseModel):
    new_name: str | None = Field(default=None, min_length=1, max_length=255)
    allow_contributors: bool | None = None


@router.patch("/api/connections/{name}", tags=["connections"])
def edit_connection(name: str, body: ConnectionChange, user: CurrentUser, store: StoreDep) -> dict[str, Any]:
    """Rename the connection and/or change who may use it."""
    require(user, "admin")
    view = connections.edit_connection(
        store, name=name, new_name=body.new_name, allow_contributors=body.allow_contributors, actor=user.name
    )
    return dataclasses.asdict(view)


@router.delete("/api/connections/{name}", status_code=204, tags=["connections"])
def remove_connection(name: str, user: CurrentUser, store: StoreDep) -> None:
    """Remove it and its stored secrets (refused while exports use it)."""
    require(user, "admin")
    connections.remove_connection(store, name=name, actor=user.name)


# --- exports ---------------------------------------------------------------------------------------------


class NewExport(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    connection: str
    list_id: str = Field(description="The Constant Contact list's ID (a UUID).")
    email_field: str
    first_name_field: str | None = None
    last_name_field: str | None = None
    segments: list[str] = Field(min_length=1)
    mode: str = Field(default="add", pattern="^(add|mirror)$")


class ExportChange(BaseModel):
    new_name: str | None = None
    connection: str | None = None
    list_id: str | None = None
    email_field: str | None = None
    first_name_field: str | None = None
    last_name_field: str | None = None
    segments: list[str] | None = None
    mode: str | None = Field(default=None, pattern="^(add|mirror)$")


class Duplicate(BaseModel):
    new_name: str = Field(min_length=1, max_length=255)


class RunRequest(BaseModel):
    full: bool = False


class ExportScheduleBody(BaseModel):
    mode: str = Field(pattern="^(refresh|own|off)$")
    kind: str | None = Field(default=None, pattern="^(daily|weekly|cron)$")
    times: list[str] = []
    days: list[str] = []
    cron: str | None = None
    timezone: str = "UTC"


def _export(view: exports.ExportView, user: User, store: Any) -> dict[str, Any]:
    return {**dataclasses.asdict(view), "your_permissions": "edit" if may_edit(store, user, view) else "view"}


@router.get("/api/exports", tags=["exports"])
def list_exports(user: CurrentUser, store: StoreDep, search: str | None = None) -> list[dict[str, Any]]:
    """Every export; `search` matches the export's name, its connection's name or its connection's type."""
    return [_export(view, user, store) for view in exports.search_exports(store, search)]


@router.get("/api/exports/{name}", tags=["exports"])
def show_export(name: str, user: CurrentUser, store: StoreDep) -> dict[str, Any]:
    return _export(exports.show_export(store, name=name), user, store)


@router.post("/api/exports", status_code=201, tags=["exports"])
def add_export(body: NewExport, request: Request, user: CurrentUser, store: StoreDep) -> dict[str, Any]:
    """Save an export (it does not run); the list ID is checked in Constant Contact."""
    may_use_connection(store, user, body.connection)
    view = exports.add_export(
        store,
        request.app.state.settings,
        name=body.name,
        connection=body.connection,
        list_id=body.list_id,
        email_field=body.email_field,
        first_name_field=body.first_name_field,
        last_name_field=body.last_name_field,
        segment_names=body.segments,
        mode=body.mode,
        actor=user.name,
        http=_http(request),
    )
    return _export(view, user, store)


@router.patch("/api/exports/{name}", tags=["exports"])
def edit_export(name: str, body: ExportChange, request: Request, user: CurrentUser, store: StoreDep) -> dict[str, Any]:
    may_manage(store, user, name)
    if body.connection is not None:
        may_use_connection(store, user, body.connection)
    view = exports.edit_export(
        store,
        request.app.state.settings,
        name=name,
        new_name=body.new_name,
        connection=body.connection,
        list_id=body.list_id,
        email_field=body.email_field,
        first_name_field=body.first_name_field,
        last_name_field=body.last_name_field,
        segment_names=body.segments,
        mode=body.mode,
        actor=user.name,
        http=_http(request),
    )
    return _export(view, user, store)


@router.post("/api/exports/{name}/duplicate", status_code=201, tags=["exports"])
def duplicate_export(name: str, body: Duplicate, user: CurrentUser, store: StoreDep) -> dict[str, Any]:
    may_manage(store, user, name)
    return _export(exports.duplicate_export(store, name=name, new_name=body.new_name, actor=user.name), user, store)


@router.post("/api/exports/{name}/disconnect", tags=["exports"])
def disconnect_export(name: str, user: CurrentUser, store: StoreDep) -> dict[str, Any]:
    """Take the export off its connection (admins), so the connection can be removed. The export is kept and
    does not run until an edit gives it a connection again."""
    require(user, "admin")
    exports.disconnect_exports(store, names=[name], actor=user.name)
    return _export(exports.show_export(store, name=name), user, store)


@router.delete("/api/exports/{name}", status_code=204, tags=["exports"])
def remove_export(name: str, user: CurrentUser, store: StoreDep) -> None:
    may_manage(store, user, name)
    exports.remove_export(store, name=name, actor=user.name)


@router.post("/api/exports/{name}/run", status_code=202, tags=["exports"])
def run_export(name: str, body: RunRequest, user: CurrentUser, store: StoreDep) -> dict[str, Any]:
    """Queue a run (or join the one queued or processing); a worker (`segport serve`) works it."""
    view = may_manage(store, user, name)
    run_id, joined = queue.enqueue(store, view.id, trigger="manual", actor=user.name, full=body.full)
    return {"run_id": run_id, "joined": joined}


@router.post("/api/exports/{name}/dry-run", tags=["exports"])
def dry_run_export(name: str, body: RunRequest, request: Request, user: CurrentUser, store: StoreDep) -> dict[str, Any]:
    """What a run would add, update, remove and skip (with reasons); nothing is sent."""
    may_manage(store, user, name)
    report = dry_run(store, request.app.state.settings, name=name, full=body.full, http=_http(request))
    return {
        "export": report.export,
        "mode": report.mode,
        "full": report.full,
        "members": report.members,
        "add": report.add,
        "update": report.update,
        "remove": report.remove,
        "unchanged": report.unchanged,
        "skip": dict(report.skip),
        "message": report.message,
    }


@router.put("/api/exports/{name}/schedule", tags=["exports"])
def schedule_export(name: str, body: ExportScheduleBody, user: CurrentUser, store: StoreDep) -> dict[str, Any]:
    may_manage(store, user, name)
    schedule = None
    if body.mode == "own":
        schedule = make_schedule(
            kind=body.kind or "", times=body.times, days=body.days, cron=body.cron, timezone=body.timezone
        )
    item = set_export_schedule(store, name=name, mode=body.mode, actor=user.name, schedule=schedule)
    return schedule_view(item)


class ManySchedulesBody(BaseModel):
    exports: list[str] = Field(min_length=1, description="The exports to schedule, all or none.")
    enable: bool | None = Field(
        default=None, description="Keep each one's schedule and only turn it on (true) or off (false)."
    )
    mode: str | None = Field(default=None, pattern="^(refresh|own|off)$", description="Or: one new schedule for all.")
    kind: str | None = Field(default=None, pattern="^(daily|weekly|cron)$")
    times: list[str] = []
    days: list[str] = []
    cron: str | None = None
    timezone: str = "UTC"


@router.put("/api/exports/schedule", tags=["exports"])
def schedule_many(body: ManySchedulesBody, user: CurrentUser, store: StoreDep) -> list[dict[str, Any]]:
    """Several exports at once (the original's Keep or override schedules): `enable` keeps each one's own
    schedule and turns it on or off; `mode` (with the schedule for `own`) gives them all the same one."""
    for name in body.exports:
        may_manage(store, user, name)
    schedule = None
    if body.mode == "own":
        schedule = make_schedule(
            kind=body.kind or "", times=body.times, days=body.days, cron=body.cron, timezone=body.timezone
        )
    items = schedule_exports(
        store, names=body.exports, mode=body.mode, schedule=schedule, enable=body.enable, actor=user.name
    )
    return [schedule_view(item) for item in items]


@router.post("/api/exports/run-all", status_code=202, tags=["exports"])
def run_all_exports(user: CurrentUser, store: StoreDep) -> list[dict[str, Any]]:
    """Queue every export with an active schedule (admins)."""
    require(user, "admin")
    return [
        {"export": name, "run_id": run_id, "joined": joined} for name, run_id, joined in run_all(store, actor=user.name)
    ]


# --- runs ------------------------------------------------------------------------------------------------


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


@router.post("/api/runs/{run_id}/cancel", tags=["runs"])
def cancel_run(run_id: int, user: CurrentUser, store: StoreDep) -> dict[str, Any]:
    view = show_run(store, run_id=run_id, with_details=False)
    may_manage(store, user, view.export)
    return {"run_id": run_id, "outcome": queue.cancel(store, run_id=run_id, actor=user.name)}
