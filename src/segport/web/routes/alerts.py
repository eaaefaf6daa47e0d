"""Alerts: where runs' outcomes are told (email, chat in Slack's format, JSON webhook) per connection (admins)
or export (those who manage it), a test button on each, and the alerts sent."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from segport.alerting import channels
from segport.alerting.delivery import send_test
from segport.errors import InvalidInput, SegportError
from segport.exports import service as exports
from segport.permissions import edit_rights, may_set_alerts, usable_connections
from segport.server.params import Id
from segport.server.state import http_of
from segport.server.threads import waits_on_others
from segport.users.sessions import Session, add_notice
from segport.web.pages import render
from segport.web.session import PageSession, Post, Posted, SettingsDep, StoreDep, allow
from segport.wording import sentence

router = APIRouter(include_in_schema=False)


def _show(request: Request, session: Session, store: StoreDep, status_code: int = 200, **extra: object) -> Response:
    editable = edit_rights(store, session.user)
    scopes: list[tuple[str, str]] = []
    if session.user.role == "admin":
        scopes += [
            (f"connection:{view.name}", f"Every export of {view.name}")
            for view in usable_connections(store, session.user)
        ]
    scopes += [
        (f"export:{view.name}", f"The export {view.name}") for view in exports.list_exports(store) if editable(view)
    ]
    return render(
        request,
        "alerts.html",
        session,
        status_code=status_code,
        channels=channels.list_channels(store),
        sent=channels.list_sent(store, limit=50),
        scopes=scopes,
        kinds=channels.KINDS,
        when_choices=channels.WHEN,
        smtp_ready=bool(store.settings.smtp_host and store.settings.smtp_from),
        **extra,
    )


@router.get("/alerts")
def page(request: Request, session: PageSession, store: StoreDep) -> Response:
    allow(session, "admin", "contributor")
    return _show(request, session, store)


def _scope(posted: Posted) -> tuple[str | None, str | None]:
    kind, _, name = posted.text("scope").partition(":")
    if kind not in ("connection", "export") or not name:
        raise InvalidInput("Choose what the alert is for.", hint="Pick a connection or an export in the list.")
    return (name, None) if kind == "connection" else (None, name)


@router.post("/alerts")
def add(request: Request, posted: Post, store: StoreDep) -> Response:
    allow(posted.session, "admin", "contributor")
    values: dict[str, Any] = {key: posted.text(key) for key in ("scope", "kind", "target", "runs")}
    try:
        connection, export = _scope(posted)
        may_set_alerts(store, posted.session.user, connection, export)
        channel = channels.add_channel(
            store,
            kind=values["kind"],
            target=values["target"],
            actor=posted.session.user.name,
            connection=connection,
            export=export,
            runs=values["runs"] or "problems",
        )
    except SegportError as error:
        return _show(request, posted.session, store, status_code=400, error=error, values=values)
    add_notice(
        store,
        posted.session,
        "success",
        f"Alerts for the {channel.scope} go to {channel.shown}. Send a test to check that they arrive.",
    )
    return RedirectResponse("/alerts", status_code=303)


@router.post("/alerts/{channel_id}/test")
@waits_on_others
def test(request: Request, channel_id: Id, posted: Post, store: StoreDep, settings: SettingsDep) -> Response:
    channel = channels.show_channel(store, channel_id)
    may_set_alerts(store, posted.session.user, channel.connection, channel.export)
    problem = send_test(store, settings, channel_id, http_of(request))
    if problem is None:
        add_notice(store, posted.session, "success", f"The test was sent to {channel.shown}.")
    else:
        add_notice(
            store, posted.session, "error", sentence(f"The test to {channel.shown} was not delivered: {problem}")
        )
    return RedirectResponse("/alerts", status_code=303)


@router.post("/alerts/{channel_id}/remove")
def remove(channel_id: Id, posted: Post, store: StoreDep) -> Response:
    channel = channels.show_channel(store, channel_id)
    may_set_alerts(store, posted.session.user, channel.connection, channel.export)
    channels.remove_channel(store, channel_id, actor=posted.session.user.name)
    add_notice(store, posted.session, "success", f"Alerts to {channel.shown} for the {channel.scope} stopped.")
    return RedirectResponse("/alerts", status_code=303)
