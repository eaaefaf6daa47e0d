"""Finding a named row (segment, connection, export), with a refusal that lists the names there are."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, select

from segport.errors import UnknownName


def row_named(connection: Connection, table: Table, name: str, *, kind: str, create_hint: str) -> Any:
    """The row whose `name` is `name`; UnknownName listing the existing names (or how to make one) otherwise."""
    row = connection.execute(select(table).where(table.c.name == name)).mappings().first()
    if row is None:
        known = connection.execute(select(table.c.name).order_by(table.c.name)).scalars().all()
        raise UnknownName(
            f"There is no {kind} named {name!r}.",
            hint=f"{kind.capitalize()}s: {', '.join(known)}." if known else create_hint,
        )
    return row
