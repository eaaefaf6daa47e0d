"""Connections (admins; contributors see the ones not shared with them by name and type only). The browser
comes back from Constant Contact's sign-in page to /oauth/callback, a page of the web UI (web/routes/oauth.py)."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from segport import outputs
from segport.api import answers
from segport.api.auth import CurrentUser, StoreDep
from segport.connections import lists as account_lists
from segport.connections import service as connections
from segport.connections import web_sign_in
from segport.connections.custom_fields import custom_fields
from segport.permissions import can_use, may_use_connection, require
from segport.server.params import Id
from segport.server.state import http_of, settings_of
from segport.server.threads import waits_on_others

router = APIRouter()


# Unset fields are left out: a connection the caller may not use shows only its name, kind and usable.
@router.get("/api/connections", tags=["connections"], response_model_exclude_unset=True)
def list_connections(user: CurrentUser, store: StoreDep) -> list[outputs.ListedConnection]:
    """Every connection; the details only of those the caller may use (others: name and type)."""
    found = []
    for view in connections.list_connections(store):
        if can_use(user, view):
            found.append(outputs.ListedConnection.model_validate({**dataclasses.asdict(view), "usable": True}))
        else:
            found.append(outputs.ListedConnection(name=view.name, kind=view.kind, usable=False))
    return found


class NewConnection(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    allow_contributors: bool = False
    agreed: bool = Field(description="The data privacy and compliance terms (GET /api/connections/terms) accepted.")


@router.get("/api/connections/terms", tags=["connections"])
def terms(user: CurrentUser) -> answers.Terms:
    """The data privacy and compliance text a connection's creator agrees to."""
    return answers.Terms(text=connections.PRIVACY_TEXT)


@router.post("/api/connections", status_code=202, tags=["connections"])
def add_connection(body: NewConnection, request: Request, user: CurrentUser, store: StoreDep) -> answers.SignInStarted:
    """Start adding a connection: open `authorize_url` in a browser; Constant Contact comes back to
    /oauth/callback, which saves the connection."""
    require(user, "admin")
    started = web_sign_in.start(
        store,
        settings_of(request),
        user=user.name,
        name=body.name,
        purpose="add",
        allow_contributors=body.allow_contributors,
        agreed=body.agreed,
    )
    return answers.SignInStarted(authorize_url=started.authorize_url, expires_at=started.expires_at)


@router.post("/api/connections/{name}/reauthorize", status_code=202, tags=["connections"])
def reauthorize(name: str, request: Request, user: CurrentUser, store: StoreDep) -> answers.SignInStarted:
    """Sign in to Constant Contact again for this connection (open `authorize_url` in a browser)."""
    require(user, "admin")
    started = web_sign_in.start(store, settings_of(request), user=user.name, name=name, purpose="reauthorize")
    return answers.SignInStarted(authorize_url=started.authorize_url, expires_at=started.expires_at)


@router.get("/api/connections/{name}", tags=["connections"])
def show_connection(name: str, user: CurrentUser, store: StoreDep) -> outputs.Connection:
    may_use_connection(store, user, name)
    return outputs.Connection.model_validate(connections.show_connection(store, name=name))


class ConnectionChange(BaseModel):
    new_name: str | None = Field(default=None, min_length=1, max_length=255)
    allow_contributors: bool | None = None


@router.get("/api/connections/id/{connection_id}", tags=["connections"])
def show_connection_by_id(connection_id: Id, user: CurrentUser, store: StoreDep) -> outputs.Connection:
    """The connection with this id (ids never change)."""
    return show_connection(connections.connection_name(store, connection_id=connection_id), user, store)


@router.patch("/api/connections/id/{connection_id}", tags=["connections"])
def edit_connection_by_id(
    connection_id: Id, body: ConnectionChange, user: CurrentUser, store: StoreDep
) -> outputs.Connection:
    return edit_connection(connections.connection_name(store, connection_id=connection_id), body, user, store)


@router.delete("/api/connections/id/{connection_id}", status_code=204, tags=["connections"])
def remove_connection_by_id(connection_id: Id, user: CurrentUser, store: StoreDep) -> None:
    remove_connection(connections.connection_name(store, connection_id=connection_id), user, store)


@router.patch("/api/connections/{name}", tags=["connections"])
def edit_connection(name: str, body: ConnectionChange, user: CurrentUser, store: StoreDep) -> outputs.Connection:
    """Rename the connection and/or change who may use it."""
    require(user, "admin")
    view = connections.edit_connection(
        store, name=name, new_name=body.new_name, allow_contributors=body.allow_contributors, actor=user.name
    )
    return outputs.Connection.model_validate(view)


@router.delete("/api/connections/{name}", status_code=204, tags=["connections"])
def remove_connection(name: str, user: CurrentUser, store: StoreDep) -> None:
    """Remove it and its stored secrets (refused while exports use it)."""
    require(user, "admin")
    connections.remove_connection(store, name=name, actor=user.name)


@router.get("/api/connections/{name}/lists", tags=["connections"])
@waits_on_others
def account_lists_of(
    name: str, request: Request, user: CurrentUser, store: StoreDep, search: str = ""
) -> list[outputs.AccountList]:
    """The contact lists of the connection's Constant Contact account (their names holding `search`), with
    their member counts and the exports that send to them."""
    may_use_connection(store, user, name)
    found = account_lists.account_lists(
        store, settings_of(request), connection=name, search=search, http=http_of(request)
    )
    return [outputs.AccountList.model_validate(item) for item in found]


class NewList(BaseModel):
    name: str = Field(min_length=1, max_length=account_lists.MAX_LIST_NAME)


@router.post("/api/connections/{name}/lists", status_code=201, tags=["connections"])
@waits_on_others
def create_account_list(
    name: str, body: NewList, request: Request, user: CurrentUser, store: StoreDep
) -> outputs.AccountList:
    """Create a list in the connection's account (refused when the name is taken, in any case)."""
    may_use_connection(store, user, name)
    item = account_lists.create_list(
        store, settings_of(request), connection=name, name=body.name, actor=user.name, http=http_of(request)
    )
    return outputs.AccountList.model_validate(item)


@router.get("/api/connections/{name}/custom_fields", tags=["connections"])
@waits_on_others
def custom_fields_of(name: str, request: Request, user: CurrentUser, store: StoreDep) -> list[answers.CustomField]:
    """The custom fields of the connection's Constant Contact account: an export maps a profile field to one as
    cf:NAME."""
    may_use_connection(store, user, name)
    found = custom_fields(store, settings_of(request), connection=name, http=http_of(request))
    return [
        answers.CustomField(name=item.name, label=item.label, type=item.type, target=f"cf:{item.name}")
        for item in found
    ]
