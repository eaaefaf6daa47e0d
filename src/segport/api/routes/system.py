"""Health, readiness, the caller, users and tokens, the system schedule and the audit trail."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field
from sqlalchemy import text

from segport import audit, outputs
from segport.api import answers
from segport.api.auth import CurrentUser, StoreDep
from segport.api.paging import last_of_full_page, link_next
from segport.limits import LARGEST_INTEGER
from segport.metrics import exposition
from segport.permissions import require
from segport.scheduling.calendar import Schedule, make_schedule
from segport.scheduling.refreshes import list_refreshes, refresh_now
from segport.scheduling.service import export_schedules, set_system_schedule, show_system_schedule
from segport.server.params import Id
from segport.server.problems import NotSignedIn
from segport.server.state import settings_of
from segport.store import Store
from segport.users import service as users
from segport.users.passwords import same_text
from segport.users.service import authenticate

router = APIRouter()


@router.get("/healthz", tags=["system"])
def healthz() -> answers.Status:
    """The process answers."""
    return answers.Status(status="ok")


@router.get(
    "/readyz",
    tags=["system"],
    responses={503: {"model": answers.Status, "description": "The database cannot be reached."}},
)
def readyz(store: StoreDep, response: Response) -> answers.Status:
    """The database answers."""
    try:
        with store.read() as db:
            db.execute(text("SELECT 1"))
    except Exception:  # any failure to reach the database means not ready
        response.status_code = 503
        return answers.Status(status="database unreachable")
    return answers.Status(status="ready")


@router.get("/metrics", tags=["system"], response_class=PlainTextResponse)
def metrics(request: Request, store: StoreDep) -> PlainTextResponse:
    """Prometheus metrics: runs by status, queue depth, rows sent, run durations, Constant Contact requests.

    Needs `Authorization: Bearer` with SEGPORT_METRICS_TOKEN or any user's API token (SEGPORT_METRICS_PUBLIC=true
    opens it to anyone who can reach the port)."""
    settings = settings_of(request)
    if not settings.metrics_public:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        expected = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
        allowed = (
            scheme.lower() == "bearer"
            and bool(token)
            and ((bool(expected) and same_text(token, expected)) or authenticate(store, token) is not None)
        )
        if not allowed:
            raise NotSignedIn(
                "The metrics need a token.",
                hint="Send Authorization: Bearer with SEGPORT_METRICS_TOKEN or an API token.",
            )
    return PlainTextResponse(exposition(store), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/me", tags=["users"])
def me(user: CurrentUser) -> answers.Me:
    return answers.Me(name=user.name, role=user.role)


class NewUser(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    role: str = Field(pattern="^(admin|contributor|viewer)$")
    password: str | None = Field(default=None, description="For the web UI; at least 10 characters.")


class NewToken(BaseModel):
    label: str = Field(default="token", min_length=1, max_length=255)


@router.get("/api/users", tags=["users"])
def list_users(user: CurrentUser, store: StoreDep) -> list[outputs.User]:
    require(user, "admin")
    return [outputs.User.model_validate(item) for item in users.list_users(store)]


@router.post("/api/users", status_code=201, tags=["users"])
def add_user(body: NewUser, user: CurrentUser, store: StoreDep) -> outputs.User:
    require(user, "admin")
    users.add_user(store, name=body.name, role=body.role, actor=user.name, password=body.password)
    return _user(store, body.name)


def _user(store: Store, name: str) -> outputs.User:
    return next(outputs.User.model_validate(item) for item in users.list_users(store) if item.name == name.strip())


class UserChange(BaseModel):
    role: str | None = Field(default=None, pattern="^(admin|contributor|viewer)$")
    password: str | None = Field(default=None, description="For the web UI; at least 10 characters.")


@router.patch("/api/users/{name}", tags=["users"])
def change_user(name: str, body: UserChange, user: CurrentUser, store: StoreDep) -> outputs.User:
    """Change a user's role (the last admin stays one) and/or set their web UI password."""
    require(user, "admin")
    if body.password is not None:
        users.set_password(store, name=name, password=body.password, actor=user.name)
    changed = users.set_role(store, name=name, role=body.role, actor=user.name) if body.role else None
    changed = changed or users.show_user(store, name=name)
    return _user(store, changed.name)


@router.delete("/api/users/{name}", status_code=204, tags=["users"])
def remove_user(name: str, user: CurrentUser, store: StoreDep) -> None:
    require(user, "admin")
    users.remove_user(store, name=name, actor=user.name)


@router.post("/api/users/{name}/tokens", status_code=201, tags=["users"])
def issue_token(name: str, body: NewToken, user: CurrentUser, store: StoreDep) -> answers.IssuedToken:
    """A new API token; the response is the only time it is shown."""
    require(user, "admin")
    issued, plain = users.issue_token(store, name=name, label=body.label, actor=user.name)
    return answers.IssuedToken(id=issued.id, user=issued.user, label=issued.label, token=plain)


@router.get("/api/tokens", tags=["users"])
def list_tokens(user: CurrentUser, store: StoreDep) -> list[outputs.Token]:
    require(user, "admin")
    return [outputs.Token.model_validate(item) for item in users.list_tokens(store)]


@router.delete("/api/tokens/{token_id}", status_code=204, tags=["users"])
def revoke_token(token_id: Id, user: CurrentUser, store: StoreDep) -> None:
    require(user, "admin")
    users.revoke_token(store, token_id=token_id, actor=user.name)


class ScheduleBody(BaseModel):
    kind: str = Field(pattern="^(daily|weekly|cron)$")
    times: list[str] = []
    days: list[str] = []
    cron: str | None = None
    timezone: str = "UTC"


@router.get("/api/schedule", tags=["schedule"])
def show_schedule(user: CurrentUser, store: StoreDep) -> outputs.Schedules:
    """The system refresh and every export's schedule with its next run (UTC)."""
    system = show_system_schedule(store)
    return outputs.Schedules(system=system, exports=[outputs.export_schedule(item) for item in export_schedules(store)])


@router.put("/api/schedule", tags=["schedule"])
def set_schedule(body: ScheduleBody, user: CurrentUser, store: StoreDep) -> Schedule:
    require(user, "admin")
    schedule = make_schedule(kind=body.kind, times=body.times, days=body.days, cron=body.cron, timezone=body.timezone)
    set_system_schedule(store, schedule, actor=user.name)
    return schedule


@router.delete("/api/schedule", status_code=204, tags=["schedule"])
def schedule_off(user: CurrentUser, store: StoreDep) -> None:
    require(user, "admin")
    set_system_schedule(store, None, actor=user.name)


@router.post("/api/schedule/refresh", status_code=202, tags=["schedule"])
def refresh(user: CurrentUser, store: StoreDep) -> answers.RefreshQueued:
    """Queue a system refresh now (admins): a worker evaluates the segments, then queues the exports that
    follow the refresh. Joins the refresh already queued or in progress."""
    require(user, "admin")
    refresh_id, joined = refresh_now(store, actor=user.name)
    return answers.RefreshQueued(refresh_id=refresh_id, joined=joined)


@router.get("/api/schedule/refreshes", tags=["schedule"])
def refreshes(
    user: CurrentUser, store: StoreDep, limit: Annotated[int, Query(ge=1, le=200)] = 20
) -> list[outputs.Refresh]:
    """The latest system refreshes, newest first: status, when, how long, and what each did."""
    return [outputs.Refresh.model_validate(view) for view in list_refreshes(store, limit=limit)]


@router.get("/api/audit", tags=["audit"])
def audit_trail(
    user: CurrentUser,
    store: StoreDep,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    action: str | None = None,
    subject: str | None = None,
    before: Annotated[
        int | None, Query(ge=1, le=LARGEST_INTEGER, description="The cursor: entries older than this id.")
    ] = None,
) -> list[outputs.AuditEntry]:
    """The audit trail, newest first; a full page links to the next (the `Link` header, rel="next")."""
    require(user, "admin")
    found = audit.entries(store, limit=limit, action=action, subject=subject, before=before)
    last = last_of_full_page([entry.id for entry in found], limit)
    link_next(response, "/api/audit", last, limit, action=action, subject=subject)
    return [outputs.AuditEntry.model_validate(entry) for entry in found]
