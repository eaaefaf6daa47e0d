"""Data > Exports: list and search, add/edit/view, duplicate, run, dry run, run all, schedule, remove."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from segport.connections import lists as account_lists
from segport.connections.custom_fields import custom_fields
from segport.errors import InvalidInput, SegportError
from segport.exports import service as exports
from segport.exports.dry_run import dry_run
from segport.exports.mapping import FieldMapping
from segport.exports.properties import PROPERTIES
from segport.permissions import edit_rights, may_edit, may_manage, usable_connections
from segport.profiles.service import describe_if_loaded
from segport.runs import queue
from segport.runs.history import list_runs
from segport.scheduling.service import export_schedules, run_all
from segport.segments.service import list_segments
from segport.server.state import http_of, settings_of
from segport.server.threads import waits_on_others
from segport.users.sessions import Session, add_notice
from segport.web.pages import json_error, render
from segport.web.session import PageSession, Post, Posted, SettingsDep, StoreDep, allow

router = APIRouter(include_in_schema=False)
BLANK_ROWS = 2  # empty field mapping rows under the mapped ones; "More rows" adds three
MAX_MAPPING_ROWS = 100


def export_page(name: str) -> str:
    return f"/exports/{quote(name, safe='')}"


def _form_context(
    request: Request, store: Any, session: Session, values: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What the add and edit forms offer; `values` gains the preselections (the only connection, an email field)
    when nothing is chosen yet."""
    source = describe_if_loaded(store, count=False)
    usable = usable_connections(store, session.user)
    fields = source.fields if source else []
    if values is not None:
        if not values.get("connection") and len(usable) == 1:
            values["connection"] = usable[0].name
        if not values.get("email_field"):
            values["email_field"] = next((field.name for field in fields if "email" in field.name.lower()), None)
    connection = (values or {}).get("connection") or ""
    lists, lists_error = _lists_of(request, store, connection)
    mapped = list((values or {}).get("fields") or [])
    blank = FieldMapping("", "")
    return {
        "connections": usable,
        "fields": fields,
        "segments": list_segments(store),
        "list_help": exports.LIST_ID_HELP,
        "account_lists": lists,
        "lists_error": lists_error,
        "properties": PROPERTIES,
        "custom_fields": _custom_fields_of(request, store, connection) if not lists_error else [],
        "mapping_rows": mapped + [blank] * int((values or {}).get("blank_rows") or BLANK_ROWS),
    }


def _custom_fields_of(request: Request, store: Any, connection: str) -> list[str]:
    """The account's custom field names, offered as cf:NAME; none when Constant Contact cannot say (a name can
    still be typed, and saving checks it)."""
    if not connection:
        return []
    try:
        found = custom_fields(store, settings_of(request), connection=connection, http=http_of(request))
    except SegportError:
        return []
    return [item.name for item in found]


def _lists_of(request: Request, store: Any, connection: str) -> tuple[list[account_lists.AccountList], str | None]:
    """The chosen connection's lists for the picker; when Constant Contact cannot say, why (the ID can be typed)."""
    if not connection:
        return [], None
    try:
        return (
            account_lists.account_lists(store, settings_of(request), connection=connection, http=http_of(request)),
            None,
        )
    except SegportError as error:
        return [], f"The lists of {connection!r} could not be read ({error.message}); type the list ID instead."


def _form_again(
    request: Request,
    posted: Posted,
    store: Any,
    error: SegportError,
    values: dict[str, Any],
    editing: exports.ExportView | None,
) -> Response:
    """The add or edit form once more, with what was typed and what was wrong."""
    context = _form_context(request, store, posted.session, values)
    return render(
        request,
        "exports/form.html",
        posted.session,
        status_code=400,
        error=error,
        values=values,
        editing=editing,
        **context,
    )


def _form_action(
    request: Request, posted: Posted, store: Any, values: dict[str, Any], editing: exports.ExportView | None
) -> Response | None:
    """The form's buttons that do not save: show the chosen connection's lists, or create a list and choose it.
    None when the form was sent to be saved."""
    action = posted.text("action")
    if action not in ("show_lists", "create_list", "more_fields"):
        return None
    if action == "more_fields":
        values["blank_rows"] = BLANK_ROWS + 3
    if action == "create_list":
        try:
            _check_connection(store, posted.session, values["connection"])
            created = account_lists.create_list(
                store,
                settings_of(request),
                connection=values["connection"],
                name=values["new_list"],
                actor=posted.session.user.name,
                http=http_of(request),
            )
        except SegportError as error:
            return _form_again(request, posted, store, error, values, editing)
        values["list_id"], values["new_list"] = created.list_id, ""
        notices = [("success", f"Created the list {created.name!r}; it is chosen below. Save to keep the export.")]
    else:
        notices = []
    context = _form_context(request, store, posted.session, values)
    return render(
        request, "exports/form.html", posted.session, values=values, editing=editing, notices=notices, **context
    )


@router.get("/exports")
def list_page(request: Request, session: PageSession, store: StoreDep, search: str = "") -> Response:
    views = exports.search_exports(store, search)
    schedules = {item.export: item for item in export_schedules(store)}
    editable = edit_rights(store, session.user)
    rows = [{"view": view, "schedule": schedules.get(view.name), "editable": editable(view)} for view in views]
    return render(request, "exports/list.html", session, rows=rows, search=search)


@router.get("/exports/new")
@waits_on_others
def new_page(request: Request, session: PageSession, store: StoreDep, connection: str = "") -> Response:
    allow(session, "admin", "contributor")
    values: dict[str, Any] = {"mode": "add", "segments": [], "connection": connection}
    context = _form_context(request, store, session, values)
    return render(request, "exports/form.html", session, values=values, editing=None, **context)


def _values(posted: Post) -> dict[str, Any]:
    return {
        "name": posted.text("name"),
        "connection": posted.text("connection"),
        # The ID typed, else the list picked (the picker fills the field when scripts run; without them it is sent).
        "list_id": posted.text("list_id") or posted.text("list_pick"),
        "new_list": posted.text("new_list"),
        "email_field": posted.text("email_field"),
        "first_name_field": posted.optional("first_name_field"),
        "last_name_field": posted.optional("last_name_field"),
        "segments": posted.many("segments"),
        "mode": posted.text("mode", "add"),
        "fields": _mapped_fields(posted),
        "create_custom_fields": posted.checked("create_custom_fields"),
    }


def _mapped_fields(posted: Posted) -> list[FieldMapping]:
    """The rows of the form's field mapping that name a profile field or a property (a half row is kept, so
    saving names what it lacks)."""
    found = []
    for row in range(MAX_MAPPING_ROWS):
        source, target = posted.text(f"map_source_{row}"), posted.text(f"map_target_{row}")
        if f"map_source_{row}" not in posted.form and f"map_target_{row}" not in posted.form:
            break
        if source or target:
            found.append(FieldMapping(source, target, posted.checked(f"map_empty_{row}")))
    return found


def _rows_complete(values: dict[str, Any]) -> None:
    for item in values["fields"]:
        if not item.source_field or not item.target:
            missing = "no profile field" if not item.source_field else "no contact property"
            raise InvalidInput(
                f"A row of More fields has {missing}.", hint="Fill both parts of the row, or clear both to drop it."
            )


def _check_connection(store: Any, session: Session, name: str) -> None:
    if not name:
        raise InvalidInput("Choose a connection.", hint="Pick one of the connections you may use.", field="connection")
    if name not in {view.name for view in usable_connections(store, session.user)}:
        raise InvalidInput(
            f"You may not use the connection {name!r}.",
            hint="Pick one of the connections listed in the form.",
            field="connection",
        )


def _segments_chosen(values: dict[str, Any]) -> None:
    if not values["segments"]:
        raise InvalidInput(
            "Choose at least one segment.", hint="Tick the segments whose members go to the list.", field="segments"
        )


@router.post("/exports/new")
@waits_on_others
def new_submit(request: Request, posted: Post, store: StoreDep, settings: SettingsDep) -> Response:
    allow(posted.session, "admin", "contributor")
    values = _values(posted)
    other = _form_action(request, posted, store, values, editing=None)
    if other is not None:
        return other
    try:
        _check_connection(store, posted.session, values["connection"])
        _segments_chosen(values)
        _rows_complete(values)
        view = exports.add_export(
            store,
            settings,
            name=values["name"],
            connection=values["connection"],
            list_id=values["list_id"],
            email_field=values["email_field"],
            first_name_field=values["first_name_field"],
            last_name_field=values["last_name_field"],
            segment_names=values["segments"],
            mode=values["mode"],
            fields=values["fields"],
            create_custom_fields=values["create_custom_fields"],
            actor=posted.session.user.name,
            http=http_of(request),
        )
    except SegportError as error:
        return _form_again(request, posted, store, error, values, editing=None)
    add_notice(
        store,
        posted.session,
        "success",
        f"The export {view.name!r} is saved. It runs with its schedule, or when you press Run.",
    )
    return RedirectResponse(export_page(view.name), status_code=303)


@router.get("/exports/check-list")
@waits_on_others
def check_list(
    request: Request,
    session: PageSession,
    store: StoreDep,
    settings: SettingsDep,
    connection: str = "",
    list_id: str = "",
) -> Response:
    """For the form's Check button: the list's name in Constant Contact, or why the ID is not one."""
    try:
        allow(session, "admin", "contributor")
        _check_connection(store, session, connection)
        name = exports.check_list(store, settings, connection=connection, list_id=list_id, http=http_of(request))
    except SegportError as error:
        return json_error(error.message, error.hint)
    return JSONResponse({"name": name})


@router.get("/exports/lists")
@waits_on_others
def lists_json(request: Request, session: PageSession, store: StoreDep, connection: str = "") -> Response:
    """For the form's list picker when the connection changes: the connection's lists."""
    try:
        allow(session, "admin", "contributor")
        _check_connection(store, session, connection)
        found = account_lists.account_lists(store, settings_of(request), connection=connection, http=http_of(request))
    except SegportError as error:
        return json_error(error.message, error.hint)
    return JSONResponse(
        {"lists": [{"list_id": item.list_id, "name": item.name, "members": item.members} for item in found]}
    )


@router.post("/exports/run-all")
def run_all_submit(posted: Post, store: StoreDep) -> Response:
    allow(posted.session, "admin")
    queued = run_all(store, actor=posted.session.user.name)
    text = f"Queued {len(queued)} export(s) with an active schedule." if queued else "No export has an active schedule."
    add_notice(store, posted.session, "success", text)
    return RedirectResponse("/runs", status_code=303)


@router.get("/exports/{name}")
def detail_page(request: Request, name: str, session: PageSession, store: StoreDep) -> Response:
    view = exports.show_export(store, name=name)
    schedule = export_schedules(store, name=name)[0]
    runs = list_runs(store, export=name, limit=10)
    return render(
        request,
        "exports/detail.html",
        session,
        view=view,
        schedule=schedule,
        runs=runs,
        editable=may_edit(store, session.user, view),
    )


@router.get("/exports/{name}/edit")
@waits_on_others
def edit_page(request: Request, name: str, session: PageSession, store: StoreDep) -> Response:
    view = may_manage(store, session.user, name)
    values = {**view.__dict__}
    context = _form_context(request, store, session, values)
    return render(request, "exports/form.html", session, values=values, editing=view, **context)


@router.post("/exports/{name}/edit")
@waits_on_others
def edit_submit(request: Request, name: str, posted: Post, store: StoreDep, settings: SettingsDep) -> Response:
    current = may_manage(store, posted.session.user, name)
    values = _values(posted)
    other = _form_action(request, posted, store, values, editing=current)
    if other is not None:
        return other
    try:
        if values["connection"] != current.connection:
            _check_connection(store, posted.session, values["connection"])
        _segments_chosen(values)
        _rows_complete(values)
        view = exports.edit_export(
            store,
            settings,
            name=name,
            new_name=values["name"] or None,
            connection=values["connection"] or None,
            list_id=values["list_id"] or None,
            email_field=values["email_field"] or None,
            first_name_field=values["first_name_field"],
            last_name_field=values["last_name_field"],
            clear_first_name=values["first_name_field"] is None,
            clear_last_name=values["last_name_field"] is None,
            segment_names=values["segments"],
            mode=values["mode"],
            fields=values["fields"],
            create_custom_fields=values["create_custom_fields"],
            actor=posted.session.user.name,
            http=http_of(request),
        )
    except SegportError as error:
        return _form_again(request, posted, store, error, values, editing=current)
    add_notice(store, posted.session, "success", "Changes saved. They apply from the next run.")
    return RedirectResponse(export_page(view.name), status_code=303)


@router.post("/exports/{name}/duplicate")
def duplicate_submit(name: str, posted: Post, store: StoreDep) -> Response:
    may_manage(store, posted.session.user, name)
    new_name = posted.text("new_name") or f"{name} (copy)"
    view = exports.duplicate_export(store, name=name, new_name=new_name, actor=posted.session.user.name)
    add_notice(store, posted.session, "success", f"Duplicated as {view.name!r}; edit it before it runs.")
    return RedirectResponse(export_page(view.name) + "/edit", status_code=303)


@router.post("/exports/{name}/run")
def run_submit(name: str, posted: Post, store: StoreDep) -> Response:
    view = may_manage(store, posted.session.user, name)
    run_id, joined = queue.enqueue(
        store,
        view.id,
        trigger="manual",
        actor=posted.session.user.name,
        full=posted.checked("full"),
        allow_mass_removal=posted.checked("allow_mass_removal"),
    )
    if joined:
        add_notice(
            store,
            posted.session,
            "info",
            f"The export already had run {run_id} queued or processing; you are watching it.",
        )
    return RedirectResponse(f"/runs/{run_id}", status_code=303)


@router.post("/exports/{name}/dry-run")
@waits_on_others
def dry_run_submit(request: Request, name: str, posted: Post, store: StoreDep, settings: SettingsDep) -> Response:
    view = may_manage(store, posted.session.user, name)
    report = dry_run(store, settings, name=name, full=posted.checked("full"), http=http_of(request))
    return render(request, "exports/dry_run.html", posted.session, view=view, report=report)


@router.get("/exports/{name}/remove")
def remove_page(request: Request, name: str, session: PageSession, store: StoreDep) -> Response:
    view = may_manage(store, session.user, name)
    return render(request, "exports/remove.html", session, view=view)


@router.post("/exports/{name}/remove")
def remove_submit(name: str, posted: Post, store: StoreDep) -> Response:
    may_manage(store, posted.session.user, name)
    exports.remove_export(store, name=name, actor=posted.session.user.name)
    add_notice(
        store, posted.session, "success", f"The export {name!r} is removed; its contacts stay in Constant Contact."
    )
    return RedirectResponse("/exports", status_code=303)
