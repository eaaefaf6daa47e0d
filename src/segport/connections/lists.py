"""The contact lists of a connection's Constant Contact account: find one, see its members, create one.

So that nobody has to copy a list ID out of a page address: the CLI (`segport lists`), the API and the export
form's list picker all read the account's lists from here.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sqlalchemy import select

from segport import audit
from segport.config import Settings
from segport.connections.service import client_for, http_session, show_connection
from segport.constant_contact.client import ConstantContactClient
from segport.constant_contact.models import ContactList
from segport.errors import ConstantContactError, InvalidInput, UnknownName
from segport.store import Store
from segport.store.tables import exports

MAX_LISTS = 1_000  # "max 1,000 lists per account" (developer guide, lists overview)
MAX_LIST_NAME = 255
MAX_SHOWN_IN_HINT = 10


@dataclass(frozen=True)
class AccountList:
    list_id: str
    name: str
    members: int | None  # Constant Contact's membership count
    favorite: bool
    exports: list[str]  # segport's exports that send to it


def account_lists(
    store: Store, settings: Settings, *, connection: str, search: str = "", http: httpx.Client | None = None
) -> list[AccountList]:
    """Every list of the connection's account whose name holds `search` (any case), by name."""
    view = show_connection(store, name=connection)
    with http_session(settings, http) as session:
        found = list(client_for(store, settings, session, view.id).iter_lists())
    wanted = search.strip().casefold()
    chosen = [item for item in found if wanted in item.name.casefold()]
    return _with_exports(store, view.id, sorted(chosen, key=lambda item: item.name.casefold()))


def find_list(
    store: Store, settings: Settings, *, connection: str, list_ref: str, http: httpx.Client | None = None
) -> AccountList:
    """One list, by its ID or its exact name."""
    wanted = list_ref.strip()
    everything = account_lists(store, settings, connection=connection, http=http)
    for item in everything:
        if wanted in (item.list_id, item.name) or wanted.lower() == item.list_id:
            return item
    raise UnknownName(
        f"The Constant Contact account of {connection!r} has no list {wanted!r}.",
        hint=lists_hint(everything, connection),
    )


def lists_hint(lists: list[AccountList], connection: str) -> str:
    """What to do when a list is not found: the account's lists (the first few), and how to see them all."""
    if not lists:
        return f"The account has no list yet: create one with: segport lists create NAME --connection {connection!r}."
    shown = "; ".join(f"{item.name} ({item.list_id})" for item in lists[:MAX_SHOWN_IN_HINT])
    more = f"; and {len(lists) - MAX_SHOWN_IN_HINT:,} more" if len(lists) > MAX_SHOWN_IN_HINT else ""
    return f"Its lists: {shown}{more}. See them all with: segport lists --connection {connection!r}."


def create_list(
    store: Store,
    settings: Settings,
    *,
    connection: str,
    name: str,
    actor: str,
    http: httpx.Client | None = None,
) -> AccountList:
    """Create a list in the connection's account; refuses a name already taken (in any case) and the 1,001st list.

    The request cannot be repeated safely (a second one would find the name taken), so an answer lost on the way
    back is settled by looking the name up: the list is returned if it was created."""
    cleaned = name.strip()
    if not cleaned or len(cleaned) > MAX_LIST_NAME or any(ord(char) < 32 or ord(char) == 127 for char in cleaned):
        raise InvalidInput(
            f"A list name must be 1 to {MAX_LIST_NAME} characters, without control characters.",
            hint="Choose a shorter name, or one with something in it.",
        )
    view = show_connection(store, name=connection)
    with http_session(settings, http) as session:
        client = client_for(store, settings, session, view.id)
        existing = list(client.iter_lists())
        taken = next((item for item in existing if item.name.casefold() == cleaned.casefold()), None)
        if taken is not None:
            raise InvalidInput(
                f"The account already has a list named {taken.name!r} ({taken.list_id}).",
                hint="Use that list (pick it, or give its ID), or choose another name.",
            )
        if len(existing) >= MAX_LISTS:
            raise InvalidInput(
                f"The account has {len(existing):,} lists, the most Constant Contact allows ({MAX_LISTS:,}).",
                hint="Delete a list you no longer use in Constant Contact, or send to an existing one.",
            )
        created = _create(client, cleaned)
        if created.membership_count is None:  # the answer to a create carries no count: a new list is empty
            created = created.model_copy(update={"membership_count": 0})
    with store.begin() as db:
        audit.record(db, actor, "create_list", connection, list_id=created.list_id, list_name=created.name)
    return _with_exports(store, view.id, [created])[0]


def _create(client: ConstantContactClient, name: str) -> ContactList:
    try:
        return client.create_list(name)
    except ConstantContactError as error:
        if not error.maybe_applied:
            raise
        found = client.find_list_by_name(name)  # the answer was lost: was the list created?
        return found if found is not None else client.create_list(name)  # it was not: once more


def _with_exports(store: Store, connection_id: int, lists: list[ContactList]) -> list[AccountList]:
    with store.begin() as db:
        rows = db.execute(
            select(exports.c.list_id, exports.c.name).where(exports.c.connection_id == connection_id)
        ).all()
    users: dict[str, list[str]] = {}
    for list_id, export_name in rows:
        users.setdefault(list_id.lower(), []).append(export_name)
    return [
        AccountList(
            list_id=item.list_id,
            name=item.name,
            members=item.membership_count,
            favorite=item.favorite,
            exports=sorted(users.get(item.list_id.lower(), [])),
        )
        for item in lists
    ]


def connection_or_only(store: Store, name: str | None) -> str:
    """`name`, or the only connection when none is named; with several, the caller must choose."""
    if name:
        return name
    from segport.connections.service import list_connections

    names = [view.name for view in list_connections(store)]
    if len(names) == 1:
        return names[0]
    if not names:
        raise InvalidInput(
            "There is no connection yet.",
            hint="An admin adds one (signing in to Constant Contact).",
            field="connection",
        )
    raise InvalidInput(
        f"There are {len(names)} connections: {', '.join(repr(item) for item in names)}.",
        hint="Choose one of them.",
        field="connection",
    )
