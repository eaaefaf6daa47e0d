"""Alerts: channels (email, chat in Slack's format, JSON webhook) per connection or export, a test send, and
the alerts sent. A connection's channels are for admins; an export's for those who manage the export."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from segport import outputs
from segport.alerting import channels
from segport.alerting.delivery import send_test
from segport.api import answers
from segport.api.auth import CurrentUser, StoreDep
from segport.api.paging import last_of_full_page, link_next
from segport.errors import InvalidInput
from segport.limits import LARGEST_INTEGER
from segport.permissions import may_set_alerts, require
from segport.server.params import Id
from segport.server.state import http_of, settings_of
from segport.server.threads import waits_on_others

router = APIRouter()


class NewChannel(BaseModel):
    kind: str = Field(pattern="^(email|chat|webhook)$", description="email, chat (Slack's format) or webhook (JSON).")
    target: str = Field(min_length=1, max_length=2000, description="Email addresses (comma-separated) or a URL.")
    connection: str | None = Field(default=None, description="For every export of this connection (admins).")
    export: str | None = Field(default=None, description="For this export.")
    runs: str = Field(default="problems", pattern="^(problems|every)$")


def _channel(channel: channels.Channel) -> outputs.Channel:
    return outputs.Channel.model_validate(channel)


@router.get("/api/alerts", tags=["alerts"])
def list_channels(user: CurrentUser, store: StoreDep) -> list[outputs.Channel]:
    """Every alert channel (where it goes is shown without a webhook's secret path)."""
    require(user, "admin", "contributor")
    return [_channel(channel) for channel in channels.list_channels(store)]


@router.post("/api/alerts", status_code=201, tags=["alerts"])
def add_channel(body: NewChannel, user: CurrentUser, store: StoreDep) -> outputs.Channel:
    if (body.connection is None) == (body.export is None):
        raise InvalidInput("An alert is for a connection or for an export.", hint="Send one of connection, export.")
    may_set_alerts(store, user, body.connection, body.export)
    channel = channels.add_channel(
        store,
        kind=body.kind,
        target=body.target,
        actor=user.name,
        connection=body.connection,
        export=body.export,
        runs=body.runs,
    )
    return _channel(channel)


@router.post("/api/alerts/{channel_id}/test", tags=["alerts"])
@waits_on_others
def test_channel(channel_id: Id, request: Request, user: CurrentUser, store: StoreDep) -> answers.TestSent:
    """Send a test message now: `delivered`, and `problem` when it was not."""
    channel = channels.show_channel(store, channel_id)
    may_set_alerts(store, user, channel.connection, channel.export)
    problem = send_test(store, settings_of(request), channel_id, http_of(request))
    return answers.TestSent(delivered=problem is None, problem=problem)


@router.delete("/api/alerts/{channel_id}", status_code=204, tags=["alerts"])
def remove_channel(channel_id: Id, user: CurrentUser, store: StoreDep) -> None:
    channel = channels.show_channel(store, channel_id)
    may_set_alerts(store, user, channel.connection, channel.export)
    channels.remove_channel(store, channel_id, actor=user.name)


@router.get("/api/alerts/sent", tags=["alerts"])
def sent(
    user: CurrentUser,
    store: StoreDep,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[
        int | None, Query(ge=1, le=LARGEST_INTEGER, description="The cursor: alerts older than this id.")
    ] = None,
) -> list[outputs.SentAlert]:
    """The alerts sent or tried, newest first, tests included; a full page links to the next (`Link`)."""
    require(user, "admin", "contributor")
    found = channels.list_sent(store, limit=limit, before=before)
    link_next(response, "/api/alerts/sent", last_of_full_page([item.id for item in found], limit), limit)
    return [outputs.SentAlert.model_validate(item) for item in found]
