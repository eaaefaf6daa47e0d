"""Who may do what: the roles' rules, one place for the REST API and the web UI (and anything else that acts
for a user). Each check either passes or raises NotAllowed saying why (the role, or how a connection is
shared)."""

from __future__ import annotations

from collections.abc import Callable

from segport.connections.service import ConnectionView, list_connections, show_connection
from segport.errors import NotAllowed, UnknownName
from segport.exports.service import ExportView, show_export
from segport.store import Store
from segport.users.service import User


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


def may_edit_named(store: Store, user: User, name: str) -> bool:
    """may_edit for an export known by name (a run's). Admins manage every export and viewers none, so only a
    contributor's answer reads the export and its connection; False for a contributor when it is gone."""
    if user.role in ("admin", "viewer"):
        return user.role == "admin"
    try:
        return may_edit(store, user, show_export(store, name=name))
    except UnknownName:  # the export is gone (with its runs): nothing to manage
        return False


def edit_rights(store: Store, user: User) -> Callable[[ExportView], bool]:
    """may_edit for many exports (a list), with the user's connections read once instead of per export; not at
    all for admins (who manage every export) and viewers (none): every list of exports they ask for is spared a
    store connection and two queries."""
    if user.role != "contributor":
        return lambda _export: user.role == "admin"
    usable = {view.name for view in usable_connections(store, user)}
    return lambda export: _manages(user, export, usable.__contains__)


def _manages(user: User, export: ExportView, usable: Callable[[str], bool]) -> bool:
    if export.connection is None:  # disconnected: the rules of the connection it had still hold
        return user.role == "admin" or (user.role == "contributor" and bool(export.contributors_allowed))
    # Admins use every connection: only a contributor's answer needs the connection read.
    return user.role == "admin" or (user.role == "contributor" and usable(export.connection))


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
