"""System > Schedule: the refresh (days, times, time zone) and every export's schedule with its next run."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from segport.errors import SegportError
from segport.scheduling.calendar import DAYS, make_schedule, next_fire
from segport.scheduling.refreshes import refresh_now
from segport.scheduling.service import export_schedules, set_system_schedule, show_system_schedule
from segport.users.sessions import add_notice
from segport.web.pages import render
from segport.web.session import PageSession, Post, StoreDep, allow

router = APIRouter(include_in_schema=False)


def _show(request: Request, session: PageSession, store: StoreDep, status_code: int = 200, **extra: Any) -> Response:
    system = show_system_schedule(store)
    next_refresh = next_fire(system, datetime.now(UTC)) if system else None
    current = extra.pop("values", None) or {
        "kind": system.kind if system else "daily",
        "times": ", ".join(system.times) if system else "",
        "days": list(system.days) if system else [],
        "cron": system.cron if system else "",
        "timezone": system.timezone if system else "",
    }
    return render(
        request,
        "schedule.html",
        session,
        status_code=status_code,
        system=system,
        next_refresh=next_refresh,
        items=export_schedules(store),
        days=DAYS,
        current=current,
        **extra,
    )


@router.get("/schedule")
def page(request: Request, session: PageSession, store: StoreDep) -> Response:
    allow(session, "admin")
    return _show(request, session, store)


@router.post("/schedule/refresh")
def refresh(posted: Post, store: StoreDep) -> Response:
    """Refresh now: queued for a worker, which evaluates the segments and then queues the following exports."""
    allow(posted.session, "admin")
    refresh_id, joined = refresh_now(store, actor=posted.session.user.name)
    message = (
        f"Refresh {refresh_id} was already queued or in progress; it covers this request."
        if joined
        else f"Refresh {refresh_id} is queued: the segments are evaluated, then the exports that follow it run."
    )
    add_notice(store, posted.session, "success", message)
    return RedirectResponse("/runs#refreshes", status_code=303)


@router.post("/schedule")
def save(request: Request, posted: Post, store: StoreDep) -> Response:
    allow(posted.session, "admin")
    if posted.text("action") == "off":
        set_system_schedule(store, None, actor=posted.session.user.name)
        add_notice(store, posted.session, "success", "The scheduled refresh is off; exports that follow it do not run.")
        return RedirectResponse("/schedule", status_code=303)
    values = {
        "kind": posted.text("kind", "daily"),
        "times": posted.text("times"),
        "days": posted.many("days"),
        "cron": posted.text("cron"),
        "timezone": posted.text("timezone", "UTC"),
    }
    try:
        schedule = make_schedule(
            kind=str(values["kind"]),
            times=[part.strip() for part in str(values["times"]).split(",") if part.strip()],
            days=posted.many("days"),
            cron=posted.optional("cron"),
            timezone=str(values["timezone"]) or "UTC",
        )
        set_system_schedule(store, schedule, actor=posted.session.user.name)
    except SegportError as error:
        return _show(request, posted.session, store, status_code=400, error=error, values=values)
    add_notice(store, posted.session, "success", f"The refresh runs {schedule.describe()}.")
    return RedirectResponse("/schedule", status_code=303)
