"""Exports: create, change, duplicate, disconnect, run, dry run, schedule. Contributors work only through
connections shared with contributors."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from segport import outputs
from segport.api.auth import CurrentUser, StoreDep
from segport.exports import service as exports
from segport.exports.dry_run import dry_run
from segport.exports.mapping import FieldMapping
from segport.permissions import edit_rights, may_edit, may_manage, may_use_connection, require
from segport.runs import queue
from segport.scheduling.calendar import make_schedule
from segport.scheduling.service import run_all, schedule_exports, set_export_schedule
from segport.server.params import Id
from segport.server.state import http_of, settings_of
from segport.server.threads import waits_on_others
from segport.store import Store
from segport.users.service import User

router = APIRouter()


class MappedField(BaseModel):
    source_field: str = Field(min_length=1, max_length=255, description="The profile field.")
    target: str = Field(
        min_length=1,
        max_length=64,
        description="The contact property (GET /api/properties lists them) or cf:NAME for a custom field.",
    )
    send_empty: bool = Field(
        default=False, description="Send empty values too, which clears the property in Constant Contact."
    )


class NewExport(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    connection: str
    list_id: str = Field(description="The Constant Contact list's ID (a UUID).")
    email_field: str
    first_name_field: str | None = None
    last_name_field: str | None = None
    segments: list[str] = Field(min_length=1)
    mode: str = Field(default="add", pattern="^(add|mirror)$")
    fields: list[MappedField] = Field(default=[], max_length=100)
    create_custom_fields: bool = Field(default=False, description="Create mapped custom fields the account lacks.")


class ExportChange(BaseModel):
    new_name: str | None = None
    connection: str | None = None
    list_id: str | None = None
    email_field: str | None = None
    first_name_field: str | None = None
    last_name_field: str | None = None
    segments: list[str] | None = None
    mode: str | None = Field(default=None, pattern="^(add|mirror)$")
    fields: list[MappedField] | None = Field(default=None, max_length=100, description="Replaces the mapping.")
    create_custom_fields: bool = False


class Duplicate(BaseModel):
    new_name: str = Field(min_length=1, max_length=255)


class RunRequest(BaseModel):
    full: bool = False
    # Mirror mode: allow the run to remove more than SEGPORT_MIRROR_MAX_REMOVAL_SHARE of the list (kept on the run).
    allow_mass_removal: bool = False


class ExportScheduleBody(BaseModel):
    mode: str = Field(pattern="^(refresh|own|off)$")
    kind: str | None = Field(default=None, pattern="^(daily|weekly|cron)$")
    times: list[str] = []
    days: list[str] = []
    cron: str | None = None
    timezone: str = "UTC"


def _mappings(fields: list[MappedField] | None) -> list[FieldMapping] | None:
    if fields is None:
        return None
    return [FieldMapping(item.source_field.strip(), item.target.strip(), item.send_empty) for item in fields]


def _export(view: exports.ExportView, user: User, store: Any, editable: bool | None = None) -> outputs.ExportForUser:
    if editable is None:
        editable = may_edit(store, user, view)
    shape = outputs.export(view).model_dump()
    return outputs.ExportForUser.model_validate({**shape, "your_permissions": "edit" if editable else "view"})


@router.get("/api/exports", tags=["exports"])
def list_exports(user: CurrentUser, store: StoreDep, search: str | None = None) -> list[outputs.ExportForUser]:
    """Every export; `search` matches the export's name, its connection's name or its connection's type."""
    editable = edit_rights(store, user)
    return [_export(view, user, store, editable(view)) for view in exports.search_exports(store, search)]


@router.get("/api/properties", tags=["exports"])
def contact_properties(user: CurrentUser) -> list[outputs.Property]:
    """The contact properties an export's field mapping can fill, with what each takes; custom fields are
    cf:NAME (GET /api/connections/{name}/custom_fields lists an account's)."""
    return outputs.contact_properties()


@router.get("/api/exports/{name}", tags=["exports"])
def show_export(name: str, user: CurrentUser, store: StoreDep) -> outputs.ExportForUser:
    return _export(exports.show_export(store, name=name), user, store)


@router.post("/api/exports", status_code=201, tags=["exports"])
@waits_on_others
def add_export(body: NewExport, request: Request, user: CurrentUser, store: StoreDep) -> outputs.ExportForUser:
    """Save an export (it does not run); the list ID is checked in Constant Contact."""
    may_use_connection(store, user, body.connection)
    view = exports.add_export(
        store,
        settings_of(request),
        name=body.name,
        connection=body.connection,
        list_id=body.list_id,
        email_field=body.email_field,
        first_name_field=body.first_name_field,
        last_name_field=body.last_name_field,
        segment_names=body.segments,
        mode=body.mode,
        fields=_mappings(body.fields) or (),
        create_custom_fields=body.create_custom_fields,
        actor=user.name,
        http=http_of(request),
    )
    return _export(view, user, store)


@router.get("/api/exports/id/{export_id}", tags=["exports"])
def show_export_by_id(export_id: Id, user: CurrentUser, store: StoreDep) -> outputs.ExportForUser:
    """The export with this id (ids never change; every export answer carries its id)."""
    return show_export(exports.export_name(store, export_id=export_id), user, store)


@router.patch("/api/exports/id/{export_id}", tags=["exports"])
@waits_on_others
def edit_export_by_id(
    export_id: Id, body: ExportChange, request: Request, user: CurrentUser, store: StoreDep
) -> outputs.ExportForUser:
    """Change the export with this id, as PATCH /api/exports/{name} (a rename reaches a name a route cannot
    carry)."""
    return _edit(exports.export_name(store, export_id=export_id), body, request, user, store)


@router.delete("/api/exports/id/{export_id}", status_code=204, tags=["exports"])
def remove_export_by_id(export_id: Id, user: CurrentUser, store: StoreDep) -> None:
    remove_export(exports.export_name(store, export_id=export_id), user, store)


@router.patch("/api/exports/{name}", tags=["exports"])
@waits_on_others
def edit_export(
    name: str, body: ExportChange, request: Request, user: CurrentUser, store: StoreDep
) -> outputs.ExportForUser:
    return _edit(name, body, request, user, store)


def _edit(name: str, body: ExportChange, request: Request, user: User, store: Store) -> outputs.ExportForUser:
    may_manage(store, user, name)
    if body.connection is not None:
        may_use_connection(store, user, body.connection)
    view = exports.edit_export(
        store,
        settings_of(request),
        name=name,
        new_name=body.new_name,
        connection=body.connection,
        list_id=body.list_id,
        email_field=body.email_field,
        first_name_field=body.first_name_field,
        last_name_field=body.last_name_field,
        segment_names=body.segments,
        mode=body.mode,
        fields=_mappings(body.fields),
        create_custom_fields=body.create_custom_fields,
        actor=user.name,
        http=http_of(request),
    )
    return _export(view, user, store)


@router.post("/api/exports/{name}/duplicate", status_code=201, tags=["exports"])
def duplicate_export(name: str, body: Duplicate, user: CurrentUser, store: StoreDep) -> outputs.ExportForUser:
    may_manage(store, user, name)
    return _export(exports.duplicate_export(store, name=name, new_name=body.new_name, actor=user.name), user, store)


@router.post("/api/exports/{name}/disconnect", tags=["exports"])
def disconnect_export(name: str, user: CurrentUser, store: StoreDep) -> outputs.ExportForUser:
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
def run_export(name: str, body: RunRequest, user: CurrentUser, store: StoreDep) -> outputs.RunQueued:
    """Queue a run (or join the one queued or processing); a worker (`segport serve`) works it."""
    view = may_manage(store, user, name)
    run_id, joined = queue.enqueue(
        store,
        view.id,
        trigger="manual",
        actor=user.name,
        full=body.full,
        allow_mass_removal=body.allow_mass_removal,
    )
    return outputs.RunQueued(run_id=run_id, joined=joined)


@router.post("/api/exports/{name}/dry-run", tags=["exports"])
@waits_on_others
def dry_run_export(name: str, body: RunRequest, request: Request, user: CurrentUser, store: StoreDep) -> outputs.DryRun:
    """What a run would add, update, remove and skip (with reasons); nothing is sent."""
    may_manage(store, user, name)
    report = dry_run(store, settings_of(request), name=name, full=body.full, http=http_of(request))
    return outputs.dry_run(report)


@router.put("/api/exports/{name}/schedule", tags=["exports"])
def schedule_export(name: str, body: ExportScheduleBody, user: CurrentUser, store: StoreDep) -> outputs.ExportSchedule:
    may_manage(store, user, name)
    schedule = None
    if body.mode == "own":
        schedule = make_schedule(
            kind=body.kind or "", times=body.times, days=body.days, cron=body.cron, timezone=body.timezone
        )
    item = set_export_schedule(store, name=name, mode=body.mode, actor=user.name, schedule=schedule)
    return outputs.export_schedule(item)


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
def schedule_many(body: ManySchedulesBody, user: CurrentUser, store: StoreDep) -> list[outputs.ExportSchedule]:
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
    return [outputs.export_schedule(item) for item in items]


@router.post("/api/exports/run-all", status_code=202, tags=["exports"])
def run_all_exports(user: CurrentUser, store: StoreDep) -> list[outputs.ExportRunQueued]:
    """Queue every export with an active schedule (admins)."""
    require(user, "admin")
    queued = run_all(store, actor=user.name)
    return [outputs.ExportRunQueued(export=name, run_id=run_id, joined=joined) for name, run_id, joined in queued]
