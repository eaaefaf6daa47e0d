"""Export schedules in the browser: one export's, or several at once (R51, Keep or override schedules)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from segport.errors import InvalidInput, SegportError
from segport.permissions import may_manage
from segport.scheduling.calendar import DAYS, Schedule, make_schedule
from segport.scheduling.service import export_schedules, schedule_exports, schedules_of, set_export_schedule
from segport.users.sessions import add_notice
from segport.web.pages import render
from segport.web.routes.exports import export_page
from segport.web.session import PageSession, Post, Posted, StoreDep, allow

# Included before the export pages: /exports/schedule must not be taken for an export named "schedule".
router = APIRouter(include_in_schema=False)


@router.get("/exports/schedule")
def schedule_many_page(request: Request, session: PageSession, store: StoreDep) -> Response:
    """Several exports at once (R51): keep each one's schedule and turn them on or off, or give all a new one."""
    allow(session, "admin", "contributor")
    names = list(dict.fromkeys(request.query_params.getlist("exports")))
    if not names:
        raise InvalidInput("No export was chosen.", hint="Tick the exports to schedule in the list, then try again.")
    for name in names:
        may_manage(store, session.user, name)
    items = schedules_of(store, names)
    return render(request, "exports/schedule_many.html", session, items=items, days=DAYS, values=None)


@router.post("/exports/schedule")
def schedule_many_submit(request: Request, posted: Post, store: StoreDep) -> Response:
    allow(posted.session, "admin", "contributor")
    names = posted.many("exports")
    for name in names:
        may_manage(store, posted.session.user, name)
    choice = posted.text("choice")
    try:
        if choice in ("enable", "disable"):
            schedule_exports(store, names=names, enable=choice == "enable", actor=posted.session.user.name)
        else:
            mode = posted.text("mode", "refresh")
            schedule_exports(
                store, names=names, mode=mode, schedule=_own_schedule(posted, mode), actor=posted.session.user.name
            )
    except SegportError as error:
        items = schedules_of(store, names)
        values = _schedule_values(posted)
        return render(
            request,
            "exports/schedule_many.html",
            posted.session,
            status_code=400,
            items=items,
            days=DAYS,
            values=values,
            error=error,
        )
    add_notice(store, posted.session, "success", f"Schedules saved for: {', '.join(names)}.")
    return RedirectResponse("/exports", status_code=303)


def _own_schedule(posted: Posted, mode: str) -> Schedule | None:
    """The form's own schedule, checked; None unless `mode` is own."""
    if mode != "own":
        return None
    return make_schedule(
        kind=posted.text("kind", "daily"),
        times=[part.strip() for part in posted.text("times").split(",") if part.strip()],
        days=posted.many("days"),
        cron=posted.optional("cron"),
        timezone=posted.text("timezone", "UTC"),
    )


def _schedule_values(posted: Posted) -> dict[str, Any]:
    """What was typed in a schedule form, to show it again."""
    values: dict[str, Any] = {key: posted.text(key) for key in ("choice", "mode", "kind", "times", "cron", "timezone")}
    values["days"] = posted.many("days")
    return values


@router.get("/exports/{name}/schedule")
def schedule_page(request: Request, name: str, session: PageSession, store: StoreDep) -> Response:
    may_manage(store, session.user, name)
    item = export_schedules(store, name=name)[0]
    return render(request, "exports/schedule.html", session, item=item, days=DAYS, values=None)


@router.post("/exports/{name}/schedule")
def schedule_submit(request: Request, name: str, posted: Post, store: StoreDep) -> Response:
    may_manage(store, posted.session.user, name)
    mode = posted.text("mode", "refresh")
    try:
        schedule = _own_schedule(posted, mode)
        set_export_schedule(store, name=name, mode=mode, actor=posted.session.user.name, schedule=schedule)
    except SegportError as error:
        item = export_schedules(store, name=name)[0]
        values = _schedule_values(posted)
        return render(
            request,
            "exports/schedule.html",
            posted.session,
            status_code=400,
            item=item,
            days=DAYS,
            values=values,
            error=error,
        )
    add_notice(store, posted.session, "success", "Schedule saved.")
    return RedirectResponse(export_page(name), status_code=303)
