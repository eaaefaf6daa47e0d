"""Who is calling (a Bearer API token) and what their role lets them do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from segport.api.problems import NotAllowed, NotSignedIn
from segport.api.state import StoreDep as StoreDep
from segport.api.state import store_of
from segport.connections.service import ConnectionView, list_connections, show_connection
from segport.exports.service import ExportView, show_export
from segport.store import Store
from segport.users.service import User, authenticate

# Declares the scheme in the OpenAPI document (the Authorize button of /docs); the header is read below, so a
# missing or malformed one gets segport's own problem details rather than FastAPI's.
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="API token",
    description="An API token: segport users token NAME (shown once), sent as Authorization: Bearer <token>.",
)


def current_user(
    request: Request, _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None
) -> User:
    known = getattr(request.state, "api_user", None)  # found by the request guard before the body was read
    if isinstance(known, User):
        return known
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotSignedIn(
            "This needs an API token.", hint="Send Authorization: Bearer <token>; an admin issues API tokens."
        )
    user = authenticate(store_of(request), token.strip())
    if user is None:
        raise NotSignedIn("The API token is unknown or revoked.", hint="Ask an admin for a new one.")
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def admin_user(user: CurrentUser) -> User:
    """The caller, when an admin: as a dependency, refused before the body is read (an upload's file)."""
    require(user, "admin")
    return user


AdminUser = Annotated[User, Depends(admin_user)]


def require(user: User, *roles: str) -> None:
    if user.role not in roles:
        raise NotAllowed(
            f"A {user.role} cannot do this.", hint=f"It needs the role {' or '.join(roles)}; ask an admin."
        )


def can_use(user: User, connection: ConnectionView) -> bool:
    """Admins use every connection; contributors only those shared with contributors; viewers none."""
    return user.role == "admin" or (user.role == "contributor" and connection.allow_contributors)


def usable_connections(store: Store, user: User) -> list[ConnectionView]:
    return [view for view in list_connections(store) if can_use(user, view)]


def may_edit(store: Store, user: User, export: ExportView) -> bool:
    """Whether the user manages the export: it is on a connection they may use, or on none (disconnected:
    whoever gives it a connection again may only choose one they may use)."""
    return _manages(user, export, lambda name: can_use(user, show_connection(store, name=name)))


def edit_rights(store: Store, user: User) -> Callable[[ExportView], bool]:
    """may_edit for many exports (a list), with the user's connections read once instead of per export."""
    usable = {view.name for view in usable_connections(store, user)}
    return lambda export: _manages(user, export, usable.__contains__)


def _manages(user: User, export: ExportView, usable: Callable[[str], bool]) -> bool:
    if export.connection is None:  # disconnected: the rules of the connection it had still hold
        return user.role == "admin" or (user.role == "contributor" and bool(export.contributors_allowed))
    return user.role != "viewer" and usable(export.connection)


def may_manage(store: Store, user: User, name: str) -> ExportView:
    """The export, when the user manages it; else the refusal that says why (the role, or the connection)."""
    export = show_export(store, name=name)
    if export.connection is None:
        require(user, "admin", "contributor")
        if user.role != "admin" and not export.contributors_allowed:
            raise NotAllowed(
                f"The export {export.name!r} was on a connection not shared with contributors.",
                hint="An admin can give it a shared connection, or manage it.",
            )
    else:
        may_use_connection(store, user, export.connection)
    return export


def may_set_alerts(store: Store, user: User, connection: str | None, export: str | None) -> None:
    """Admins set a connection's alerts; an export's are for those who manage the export."""
    if export is not None:
        may_manage(store, user, export)
    else:
        require(user, "admin")


def may_use_connection(store: Store, user: User, connection: str) -> None:
    """Refuse, with the reason, a user who may not use the connection (see can_use)."""
    require(user, "admin", "contributor")
    if not can_use(user, show_connection(store, name=connection)):
        raise NotAllowed(
            f"The connection {connection!r} is not shared with contributors.",
            hint="Use a connection shared with contributors, or ask an admin to share this one.",
        )
