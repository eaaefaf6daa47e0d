"""The columns of an external table or view, read in a way every SQLAlchemy dialect supports.

The names come from a zero-row SELECT (the cursor's description): every database answers it, where a
dialect's inspector may not (duckdb-engine's asks PostgreSQL's catalog for collations DuckDB lacks). The
inspector is asked for the types where it works; otherwise the type the driver names in the description
(DuckDB: DECIMAL(10,2), DATE...) decides, and anything unknown is text.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Engine, Select, inspect, literal_column, select, table, types
from sqlalchemy.exc import SQLAlchemyError

# The segment rules' kinds of field, by the SQLAlchemy type the inspector reports.
KINDS: tuple[tuple[str, tuple[type, ...]], ...] = (
    ("boolean", (types.Boolean,)),
    ("integer", (types.Integer,)),
    ("number", (types.Numeric, types.Float)),
    ("datetime", (types.DateTime,)),
    ("date", (types.Date,)),
)
# The same kinds by the type's name, as drivers print it; the first match wins (TIMESTAMP before DATE).
NAMED_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("boolean", re.compile(r"^BOOL(EAN)?$")),
    ("integer", re.compile(r"^(TINY|SMALL|BIG|HUGE|U)?INT(EGER)?\d*$|^U?(BIG|SMALL|TINY|HUGE)INT$|^LONG$")),
    ("number", re.compile(r"^(DECIMAL|NUMERIC|NUMBER|DOUBLE|FLOAT|REAL|BIGNUMERIC)(\d*|\(.*\)|\s+PRECISION)$")),
    ("datetime", re.compile(r"^(TIMESTAMP|DATETIME)(_[A-Z]+|\(\d+\)|\s+WITH(OUT)?\s+TIME\s+ZONE)?$")),
    ("date", re.compile(r"^DATE$")),
)


class NoSuchTable(LookupError):
    """The database answered, but has no such table or view."""


def kind_of_type(sql_type: object) -> str:
    for kind, classes in KINDS:
        if isinstance(sql_type, classes):
            return kind
    return "text"


def kind_of_name(type_name: str) -> str:
    name = type_name.strip().upper()
    for kind, pattern in NAMED_KINDS:
        if pattern.search(name):
            return kind
    return "text"


def source_columns(engine: Engine, name: str, schema: str | None) -> list[tuple[str, str]]:
    """(column name, kind) for every column of [schema.]name, in the table's order. NoSuchTable when the
    database has no such table; SQLAlchemyError when it cannot be read at all (unreachable, refused)."""
    query: Select[Any] = select(literal_column("*")).select_from(table(name, schema=schema)).limit(0)
    with engine.connect() as connection:  # a failure to connect propagates: it is not a missing table
        try:
            described = connection.execute(query).cursor.description or []
        except SQLAlchemyError as exc:
            if _missing(engine, name, schema):
                raise NoSuchTable(name) from exc
            raise
    by_type = _inspected_kinds(engine, name, schema)
    return [(str(row[0]), by_type.get(str(row[0])) or kind_of_name(str(row[1]))) for row in described]


def _inspected_kinds(engine: Engine, name: str, schema: str | None) -> dict[str, str]:
    """The inspector's answer where the dialect gives one; an empty answer where it cannot."""
    try:
        return {column["name"]: kind_of_type(column["type"]) for column in inspect(engine).get_columns(name, schema)}
    except (SQLAlchemyError, NotImplementedError):
        return {}


def _missing(engine: Engine, name: str, schema: str | None) -> bool:
    try:
        return not inspect(engine).has_table(name, schema=schema)
    except (SQLAlchemyError, NotImplementedError):
        return False  # the dialect cannot tell: report the SELECT's own error
