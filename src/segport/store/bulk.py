"""Writing many rows into one table the fastest way each store has, inside the caller's transaction.

PostgreSQL gets one binary COPY (a third of the CPU of the text format, whose per-value text formatting was a
quarter of a million-row import); SQLite one prepared INSERT run over each chunk by the driver (or, from a
thread working beside another, an INSERT over a JSON array of a thousand rows: append_beside_a_reader). All skip
SQLAlchemy's per-row parameter handling (a dict per row, parameters built per statement), which costs more
than the database itself for a profile import or a run's million sent members. Values must still be stored exactly as
SQLAlchemy stores them: callers apply each column type's own bind processor (`bind_processors`: SQLite's date
and time formats, booleans as 0/1) as they build a row. For the binary COPY each value must be of its
column's Python type (str for text, int for integers, float or Decimal for floats...): no text is parsed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Table, Text, bindparam, func, insert, select
from sqlalchemy.exc import DBAPIError

Write = Callable[[Sequence[Sequence[Any]]], None]

LARGE_PAGE_CACHE_KIB = 16384
ROWS_PER_STATEMENT = 1_000  # append_beside_a_reader


@contextmanager
def large_page_cache(connection: Connection) -> Iterator[None]:
    """On SQLite, 16 MB of page cache for this transaction's many index writes, given back after.

    Acknowledging a million members, or loading a million profiles, writes that many entries into large
    b-trees; with SQLite's default 2 MB most of the time went to paging their pages in and out. Set for every
    connection instead, each pooled connection kept its 16 MB: 40 MB of the 1M export's peak RSS. PostgreSQL's
    buffers are the server's: nothing to do there.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    before = int(connection.exec_driver_sql("PRAGMA cache_size").scalar_one())
    connection.exec_driver_sql(f"PRAGMA cache_size=-{LARGE_PAGE_CACHE_KIB}")
    try:
        yield
    finally:
        # A connection that cannot take a PRAGMA any more is being thrown away; the error that broke it is
        # the one to report.
        with suppress(DBAPIError):
            connection.exec_driver_sql(f"PRAGMA cache_size={before}")


def bind_processors(connection: Connection, table: Table) -> list[Callable[[Any], Any] | None]:
    """Per column, what SQLAlchemy does to a value before the driver sees it (None: nothing).

    SQLite keeps dates and moments as text, which SQLAlchemy formats through a dict per value: a seventh of a
    million-row import for one column of moments. `isoformat` makes the same text in C; it is used only when
    it makes exactly SQLAlchemy's text for the probe values (a year before 1000, no microseconds, a leap day).
    """
    dialect = connection.dialect
    found: list[Callable[[Any], Any] | None] = []
    for column in table.columns:
        process = column.type.dialect_impl(dialect).bind_processor(dialect)
        found.append(_same_text_faster(process) if process is not None and dialect.name == "sqlite" else process)
    return found


_ISO_FORMATS: list[tuple[Callable[[Any], str], list[Any]]] = [
    (
        lambda value: value.isoformat(" ", "microseconds"),
        [datetime(2024, 2, 29, 23, 59, 58, 123456), datetime(999, 1, 2, 3, 4, 5), datetime(2000, 1, 1)],
    ),
    (date.isoformat, [date(2024, 2, 29), date(999, 1, 2), date(1, 1, 1)]),
]


def _same_text_faster(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    for faster, probes in _ISO_FORMATS:
        try:
            if all(faster(probe) == process(probe) for probe in probes):
                return faster
        except (TypeError, ValueError, AttributeError):  # a processor of another type: not this one
            continue
    return process


@contextmanager
def row_writer(connection: Connection, table: Table) -> Iterator[Write]:
    """A function that appends rows (values in the table's column order, passed through `bind_processors`
    already) to `table`; flushed on leaving."""
    dialect = connection.dialect
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        sink = _copy(connection, table)
    elif dialect.name == "sqlite":
        sink = _executemany(connection, table)
    else:  # not a store segport runs on today: correct, only slower
        sink = _inserts(connection, table)
    with sink as write:
        yield write


def append_beside_a_reader(connection: Connection, table: Table, rows: Sequence[Sequence[Any]]) -> None:
    """Append `rows` (as row_writer takes them) from a thread that runs beside another busy Python thread.

    On SQLite they go a thousand rows per statement, an INSERT over `json_each` of the rows as one JSON array.
    The driver's executemany releases the GIL around each row's step and takes it back after, so beside a
    thread that works in Python the two hand the GIL back and forth for every row: here a thread reading a
    million rows took 3.9 s instead of 1.1 s beside an executemany of as many; beside these statements, 1.5 s.
    (Alone, executemany is the faster: the import, which runs in one thread, keeps it.) A statement of a whole
    40,000-row batch cost 30 MB of memory for the JSON text and its parse; a thousand rows, 1 MB.

    Values must be those JSON carries exactly: text, 64-bit integers, booleans (stored 0/1, as the driver
    stores them), None. A chunk holding a NUL character goes through executemany: SQLite's JSON functions
    would end the text there. Elsewhere (PostgreSQL's COPY holds no such cost) this is row_writer.
    """
    if connection.dialect.name != "sqlite":
        with row_writer(connection, table) as write:
            write(rows)
        return
    each = func.json_each(bindparam("rows", type_=Text)).table_valued("value")
    values = [func.json_extract(each.c.value, f"$[{index}]") for index in range(len(table.columns))]
    statement = insert(table).from_select(list(table.columns), select(*values))
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = rows[start : start + ROWS_PER_STATEMENT]
        payload = orjson.dumps(chunk)
        if b"\\u0000" in payload:
            with row_writer(connection, table) as write:
                write(chunk)
        else:
            connection.execute(statement, {"rows": payload.decode()})


@contextmanager
def _copy(connection: Connection, table: Table) -> Iterator[Write]:
    driver = connection.connection.driver_connection
    assert driver is not None
    from psycopg import sql

    target = sql.Identifier(*([table.schema] if table.schema else []), table.name)
    columns = sql.SQL(", ").join(sql.Identifier(column.name) for column in table.columns)
    with driver.cursor() as cursor:
        # The binary format takes each value as its column's type holds it, so each column's type is needed:
        # asked of the server (no row read), as the table is, whatever SQLAlchemy type declared it.
        cursor.execute(sql.SQL("SELECT {} FROM {} WHERE false").format(columns, target))
        assert cursor.description is not None
        types = [column.type_code for column in cursor.description]
        with cursor.copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(target, columns)) as copy:
            copy.set_types(types)

            def write(rows: Sequence[Sequence[Any]]) -> None:
                for row in rows:
                    copy.write_row(row)

            yield write


@contextmanager
def _executemany(connection: Connection, table: Table) -> Iterator[Write]:
    driver = connection.connection.driver_connection
    assert driver is not None
    # SQLite's compiler names the columns in the table's order, with positional (qmark) parameters.
    statement = str(insert(table).compile(dialect=connection.dialect))

    def write(rows: Sequence[Sequence[Any]]) -> None:
        driver.executemany(statement, rows)

    yield write


@contextmanager
def _inserts(connection: Connection, table: Table) -> Iterator[Write]:
    names = [column.name for column in table.columns]

    def write(rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            connection.execute(insert(table), [dict(zip(names, row, strict=True)) for row in rows])

    yield write
