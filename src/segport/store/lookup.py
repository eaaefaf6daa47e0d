"""Finding a named row (segment, connection, export), with a refusal that lists the names there are."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, select

from segport.errors import InvalidInput, UnknownName

MAX_NAME = 255


def row_named(connection: Connection, table: Table, name: str, *, kind: str, create_hint: str) -> Any:
    """The row whose `name` is `name`; UnknownName listing the existing names (or how to make one) otherwise."""
    row = connection.execute(select(table).where(table.c.name == name)).mappings().first()
    if row is None:
        known = connection.execute(select(table.c.name).order_by(table.c.name)).scalars().all()
        raise UnknownName(
            f"There is no {kind} named {name!r}.",
            hint=f"{kind.capitalize()}s: {', '.join(known)}." if known else create_hint,
            field=kind,
        )
    return row


def name_of(connection: Connection, table: Table, row_id: int, *, kind: str) -> str:
    """The name of the row with this id: ids never change, so scripts can hold them, and a name that a
    route cannot carry (one with "/", saved before names were checked) is still reachable by its id."""
    found = connection.execute(select(table.c.name).where(table.c.id == row_id)).scalar()
    if found is None:
        raise UnknownName(f"There is no {kind} with the id {row_id}.", hint=f"Check the {kind}'s id.", field=kind)
    return str(found)


def checked_name(name: str, *, kind: str) -> str:
    """A name for a segment, connection or export: trimmed, not empty, and usable in a web address (no "/")
    and on a terminal (no control characters)."""
    name = name.strip()
    if not name:
        raise InvalidInput(f"A {kind} needs a name.", hint=f"Give the {kind} a name, e.g. 'VIP Ontario'.", field="name")
    if len(name) > MAX_NAME:
        raise InvalidInput(
            f"A {kind}'s name has at most {MAX_NAME} characters.", hint="Choose a shorter name.", field="name"
        )
    if "/" in name or any(ord(character) < 32 or 127 <= ord(character) < 160 for character in name):
        raise InvalidInput(
            f"A {kind}'s name cannot hold '/' or control characters (a line break, a tab).",
            hint="Choose a name with letters, digits, spaces and punctuation other than '/'.",
            field="name",
        )
    if any(character in _DIRECTION_CONTROLS for character in name):
        raise InvalidInput(
            f"A {kind}'s name cannot hold characters that reorder the text shown (U+202A-U+202E, U+2066-U+2069).",
            hint="Type the name again without them; right-to-left letters need none of them.",
            field="name",
        )
    return name


# Embeddings, overrides and isolates: "\u202enimda" is shown as "admin" in lists and in the audit trail.
_DIRECTION_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
