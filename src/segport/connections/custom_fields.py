"""The custom fields of a connection's Constant Contact account: which exist, and creating the ones an export's
field mapping needs (on request only: a custom field is the account's, seen by everyone who uses it).

An import that names a custom field the account lacks loses that value (or the row) on the service's side,
so an export that maps one is checked against the account when it is saved.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from segport.config import Settings
from segport.connections.service import client_for, http_session, show_connection
from segport.constant_contact.models import CustomField
from segport.errors import Conflict, InvalidInput, Refused
from segport.exports.properties import MAX_CUSTOM_PER_ACCOUNT
from segport.store import Store


def custom_fields(
    store: Store, settings: Settings, *, connection: str, http: httpx.Client | None = None
) -> list[CustomField]:
    """The account's custom fields, by name."""
    view = show_connection(store, name=connection)
    with http_session(settings, http) as session:
        found = client_for(store, settings, session, view.id).custom_fields()
    return sorted(found, key=lambda field: field.name.casefold())


def ensure_custom_fields(
    store: Store,
    settings: Settings,
    *,
    connection: str,
    names: Sequence[str],
    create: bool,
    http: httpx.Client | None = None,
) -> list[str]:
    """Check that the account has a custom field of each name; with `create`, create the missing ones (as text
    fields). Returns the names created."""
    if not names:
        return []
    view = show_connection(store, name=connection)
    with http_session(settings, http) as session:
        client = client_for(store, settings, session, view.id)
        existing = {field.name for field in client.custom_fields()}
        missing = [name for name in dict.fromkeys(names) if name not in existing]
        if not missing:
            return []
        if not create:
            raise InvalidInput(
                f"The Constant Contact account of {connection!r} has no custom field "
                f"{', '.join(repr(name) for name in missing)}.",
                hint="Create it in Constant Contact, or let segport create the missing custom fields.",
                field="create_custom_fields",
            )
        if len(existing) + len(missing) > MAX_CUSTOM_PER_ACCOUNT:
            raise Refused(
                f"Creating {len(missing)} custom fields would give the account more than {MAX_CUSTOM_PER_ACCOUNT} "
                f"(it has {len(existing)}).",
                hint="Map an existing custom field, or delete unused ones in Constant Contact.",
            )
        for name in missing:
            try:
                # The label is the name: Constant Contact builds a name from a label by replacing blanks with
                # underscores, and a mapping's name has no blanks, so the field gets exactly this name.
                client.create_custom_field(name)
            except Conflict:
                # Created by someone else meanwhile, or by an earlier attempt whose answer was lost.
                if name not in {field.name for field in client.custom_fields()}:
                    raise
    return missing
