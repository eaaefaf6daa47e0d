"""Segments: the list, the builder (with the estimated size as you edit), preview, exports, activate, delete."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse

from segport.csv_text import attachment, csv_chunks
from segport.errors import SegportError, UnknownName
from segport.profiles.service import describe_if_loaded
from segport.segments import membership
from segport.segments import service as segments
from segport.users.sessions import add_notice
from segport.web import charts
from segport.web.pages import json_error, render
from segport.web.session import PageSession, Post, Posted, StoreDep, allow

router = APIRouter(include_in_schema=False)


def _page(name: str) -> str:
    return f"/segments/{quote(name, safe='')}"


def _builder_data(store: Any, rule: Any = None) -> str:
    """What the builder's script needs: the fields with their types, the segments, the rule being edited."""
    source = describe_if_loaded(store, count=False)
    data = {
        "fields": [{"name": field.name, "type": field.type} for field in source.fields] if source else [],
        "segments": [view.name for view in segments.list_segments(store)],
        "rule": rule.model_dump(mode="json") if rule is not None else None,
    }
    # "<" escaped, so no value can close the <script> element the JSON sits in.
    return orjson.dumps(data).decode().replace("<", "\\u003c")


def _form_again(
    request: Request,
    posted: Posted,
    store: Any,
    error: SegportError,
    values: dict[str, str],
    editing: segments.SegmentView | None,
) -> Response:
    """The new or edit form once more, with what was typed and what was wrong."""
    return render(
        request,
        "segments/form.html",
        posted.session,
        status_code=400,
        error=error,
        values=values,
        editing=editing,
        builder=_builder_data(store),
    )


@router.get("/segments")
def list_page(request: Request, session: PageSession, store: StoreDep) -> Response:
    return render(request, "segments/list.html", session, views=segments.list_segments(store))


@router.get("/segments/new")
def new_page(request: Request, session: PageSession, store: StoreDep) -> Response:
    allow(session, "admin", "contributor")
    values = {"name": "", "description": "", "rule": ""}
    return render(request, "segments/form.html", session, values=values, editing=None, builder=_builder_data(store))


@router.post("/segments/new")
def new_submit(request: Request, posted: Post, store: StoreDep) -> Response:
    allow(posted.session, "admin", "contributor")
    values = {"name": posted.text("name"), "description": posted.text("description"), "rule": posted.text("rule")}
    try:
        view = segments.create_segment(
            store,
            name=values["name"],
            rule_text=values["rule"],
            description=values["description"] or None,
            actor=posted.session.user.name,
        )
    except SegportError as error:
        return _form_again(request, posted, store, error, values, editing=None)
    members = membership.count_segment(store, name=view.name)  # recorded, so lists and exports show it
    add_notice(store, posted.session, "success", f"The segment {view.name!r} is saved ({members:,} members).")
    return RedirectResponse(_page(view.name), status_code=303)


@router.get("/segments/estimate")
def estimate(session: PageSession, store: StoreDep, rule: str = "") -> Response:
    """The builder's live size: members the rule would have now, or what is wrong with it. Only for those who
    may build segments: counting answers to made-up rules would tell a viewer any customer's data."""
    allow(session, "admin", "contributor")
    if not rule.strip():
        return json_error("The rule is empty.", "Add a condition.")
    try:
        members = membership.estimate(store, rule_text=rule)
    except SegportError as error:
        return json_error(error.message, error.hint)
    return JSONResponse({"members": members})


@router.get("/segments/{name}")
def detail_page(request: Request, name: str, session: PageSession, store: StoreDep) -> Response:
    view = segments.show_segment(store, name=name)
    columns: list[str] = []
    rows: list[tuple[Any, ...]] = []
    preview_problem = None
    if session.user.role in ("admin", "contributor"):  # profile data: not for viewers
        try:
            columns, rows = membership.preview_segment(store, name=name)
        except SegportError as error:  # the warehouse does not answer, a column is gone: the rest still shows
            preview_problem = str(error)
    chosen = request.query_params.get("range", "90")
    if chosen not in charts.RANGES:
        chosen = "90"
    since = None if chosen == "all" else datetime.now(UTC) - timedelta(days=int(chosen))
    history = charts.trend(membership.count_history(store, name=name, since=since))
    return render(
        request,
        "segments/detail.html",
        session,
        view=view,
        columns=columns,
        rows=rows,
        preview_problem=preview_problem,
        history=history,
        ranges=charts.RANGES,
        chosen=chosen,
        chart=charts,
    )


@router.get("/segments/{name}/edit")
def edit_page(request: Request, name: str, session: PageSession, store: StoreDep) -> Response:
    allow(session, "admin", "contributor")
    view = segments.show_segment(store, name=name)
    values = {"name": view.name, "description": view.description or "", "rule": view.rule_text}
    return render(
        request,
        "segments/form.html",
        session,
        values=values,
        editing=view,
        builder=_builder_data(store, view.stored_rule),
    )


@router.post("/segments/{name}/edit")
def edit_submit(request: Request, name: str, posted: Post, store: StoreDep) -> Response:
    allow(posted.session, "admin", "contributor")
    values = {"name": posted.text("name", name), "description": posted.text("description"), "rule": posted.text("rule")}
    try:
        view = segments.edit_segment(
            store,
            name=name,
            new_name=values["name"],
            rule_text=values["rule"],
            description=values["description"],
            actor=posted.session.user.name,
        )
    except SegportError as error:
        return _form_again(request, posted, store, error, values, editing=segments.show_segment(store, name=name))
    add_notice(store, posted.session, "success", "The segment is saved; exports use the new rule from their next run.")
    return RedirectResponse(_page(view.name), status_code=303)


@router.get("/segments/{name}/members.csv")
def members_csv(name: str, session: PageSession, store: StoreDep) -> Response:
    """Every member with every profile field (profile data: not for viewers)."""
    allow(session, "admin", "contributor")
    columns, rows = membership.member_rows(store, name=name)
    return StreamingResponse(
        csv_chunks(columns, rows, raw=store.settings.csv_raw),
        media_type="text/csv",
        headers=attachment(f"{name} members.csv"),
    )


@router.post("/segments/{name}/duplicate")
def duplicate_submit(name: str, posted: Post, store: StoreDep) -> Response:
    allow(posted.session, "admin", "contributor")
    copy = segments.duplicate_segment(
        store, name=name, new_name=posted.text("new_name") or f"{name} (copy)", actor=posted.session.user.name
    )
    add_notice(store, posted.session, "success", f"Created {copy.name!r}, a copy of {name!r}. Edit it as you need.")
    return RedirectResponse(_page(copy.name), status_code=303)


@router.post("/segments/{name}/{action}")
def act(name: str, action: str, posted: Post, store: StoreDep) -> Response:
    """activate, deactivate, count, delete."""
    allow(posted.session, "admin", "contributor")
    actor = posted.session.user.name
    if action == "delete":
        segments.delete_segment(store, name=name, actor=actor)
        add_notice(store, posted.session, "success", f"The segment {name!r} is deleted.")
        return RedirectResponse("/segments", status_code=303)
    if action in ("activate", "deactivate"):
        segments.set_active(store, name=name, active=action == "activate", actor=actor)
        add_notice(store, posted.session, "success", f"The segment is {action}d.")
    elif action == "count":
        members = membership.count_segment(store, name=name)
        add_notice(store, posted.session, "success", f"Counted now: {members:,} members.")
    else:
        raise UnknownName(f"There is no segment action {action!r}.", hint="Use the buttons on the segment's page.")
    return RedirectResponse(_page(name), status_code=303)
