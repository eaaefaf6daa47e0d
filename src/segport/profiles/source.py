"""The active profile source as something to query: an engine, a table, its fields and the key field.

The embedded source is the `profiles` table in segport's own database; an external source is a table or
view in the customer's database or warehouse, so segments are evaluated there (pushdown).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Engine,
    Float,
    MetaData,
    Table,
    Text,
    cast,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.expression import FromClause
from sqlalchemy.types import TypeEngine

from segport.errors import InvalidInput
from segport.profiles.columns import NoSuchTable, source_columns
from segport.store import Store
from segport.store.tables import profile_fields, profile_source

EMBEDDED_TABLE = "profiles"
# Keys are indexed wherever they are kept (the profiles, every export's sync state), and PostgreSQL's index
# entries hold at most 2,704 bytes: 500 characters fit in any UTF-8, and no customer id comes near. An import
# refuses a longer key; a run skips a warehouse row that has one (exports.members), on every store alike.
MAX_KEY_LENGTH = 500
SQL_TYPES: dict[str, type[TypeEngine[Any]]] = {
    "text": Text,
    "integer": BigInteger,
    "number": Float,
    "boolean": Boolean,
    "date": Date,
    "datetime": DateTime,
}


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    source_name: str


@dataclass
class ProfileSource:
    kind: str
    engine: Engine
    table: FromClause  # a Table, or an alias of one when a rule is compiled inside a subquery
    key: str
    fields: list[Field]
    row_count: int | None
    description: str

    def field(self, name: str) -> Field | None:
        return next((field for field in self.fields if field.name == name), None)

    def repeated_keys(self, condition: Any = None) -> Any:
        """SELECT the keys on more than one row (among those meeting `condition`), rows without a key left out:
        a warehouse's table or view need not have unique keys, the embedded table's unique index makes them so."""
        key = self.table.c[self.key]
        query = select(key).where(key.is_not(None))
        if condition is not None:
            query = query.where(condition)
        return query.group_by(key).having(func.count() > 1)

    def as_text(self, name: str) -> ColumnElement[Any]:
        """The field's column, for a text field of a warehouse cast to text: segport reads every column type it
        does not know (jsonb, an array, an interval, bytes, an address) as text, and PostgreSQL compared such a
        column with text only once cast ("operator does not exist: jsonb = character varying"). The embedded
        table's text columns are text already."""
        column = self.table.c[name]
        field = self.field(name)
        if self.kind == "external" and field is not None and field.type == "text":
            return cast(column, Text)
        return column

    def check_columns(self) -> None:
        """A warehouse's table still has the columns recorded when it was connected: a clear refusal naming the
        ones gone (a column dropped or renamed there since), not the database's error in the middle of a run.
        One query that reads no row; the embedded table is segport's own."""
        table = self.table
        if self.kind != "external" or not isinstance(table, Table):  # an alias: its source is what is checked
            return
        try:
            with self.engine.connect() as connection:
                connection.execute(select(*table.c).limit(0)).close()
            return
        except SQLAlchemyError:
            pass  # which columns are gone, or whether the table is: asked below
        where = f"{table.schema}.{table.name}" if table.schema else table.name
        try:
            present = {name for name, _kind in source_columns(self.engine, table.name, table.schema)}
        except NoSuchTable:
            raise InvalidInput(
                f"The profiles' table {where} is gone from the warehouse.",
                hint="Create it again, or connect the profiles to another table.",
                field="profiles",
            ) from None
        gone = [field for field in self.fields if field.source_name not in present]
        if not gone:
            raise InvalidInput(
                f"The profiles' table {where} cannot be read with the columns recorded when it was connected.",
                hint="Connect the profiles again: that reads its columns anew.",
                field="profiles",
            )
        raise InvalidInput(
            f"The profiles' table {where} no longer has the column{'s' if len(gone) > 1 else ''} "
            f"{', '.join(field.source_name for field in gone)} (dropped or renamed there since it was connected).",
            hint="Put the columns back, or connect the profiles again (that reads the columns anew) and edit the "
            "segments and exports that used them.",
            field="profiles",
        )

    def aliased(self, name: str) -> ProfileSource:
        """The same source under another name, for a subquery that refers to the outer query's table."""
        return dataclasses.replace(self, table=self.table.alias(name))


def build_table(name: str, fields: list[Field], *, schema: str | None = None) -> Table:
    return Table(
        name,
        MetaData(),
        *(Column(f.source_name if schema else f.name, SQL_TYPES[f.type]()) for f in fields),
        schema=schema,
    )


def load_source(store: Store) -> ProfileSource:
    """The active profile source; a clear refusal when no profiles were loaded yet."""
    with store.read() as connection:
        source = connection.execute(select(profile_source)).mappings().first()
        rows = connection.execute(select(profile_fields).order_by(profile_fields.c.position)).mappings().all()
    if source is None:
        raise InvalidInput(
            "No customer profiles are loaded yet.",
            hint="Load them first: import a CSV or Parquet file, or connect an external table.",
            field="profiles",
        )
    fields = [Field(row["name"], row["type"], row["source_name"]) for row in rows]
    if source["kind"] == "embedded":
        table = build_table(EMBEDDED_TABLE, fields)
        return ProfileSource(
            "embedded",
            store.engine,
            table,
            source["key_field"],
            fields,
            source["row_count"],
            f"embedded table loaded from {source['file_name']}",
        )
    url = store.secrets.open(source["url_sealed"])
    engine = store.external_engine(url)
    metadata = MetaData()
    columns = [Column(f.source_name, SQL_TYPES[f.type](), key=f.name) for f in fields]
    table = Table(source["table_name"], metadata, *columns, schema=source["schema_name"])
    where = f"{source['schema_name']}." if source["schema_name"] else ""
    return ProfileSource(
        "external",
        engine,
        table,
        source["key_field"],
        fields,
        source["row_count"],
        f"external table {where}{source['table_name']}",
    )


def record_source(connection: Connection, fields: list[Field], **source: Any) -> None:
    """Make `fields` and `source` (a profile_source row) the active profile source, in the caller's transaction."""
    connection.execute(delete(profile_fields))
    connection.execute(delete(profile_source))
    connection.execute(
        insert(profile_fields),
        [
            {"name": field.name, "position": position, "source_name": field.source_name, "type": field.type}
            for position, field in enumerate(fields)
        ],
    )
    connection.execute(insert(profile_source).values(id=1, loaded_at=datetime.now(UTC), **source))
