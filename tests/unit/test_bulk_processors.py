"""The bulk writer's own formatting of SQLite dates and moments: the same text as SQLAlchemy's, or not used; and
the append of many rows per statement (json_each) storing exactly what the driver's executemany stores."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Integer,
    MetaData,
    Table,
    Text,
    create_engine,
    delete,
    event,
    select,
)

from segport.store.bulk import append_beside_a_reader, bind_processors, row_writer

TABLE = Table(
    "t",
    MetaData(),
    Column("moment", DateTime),
    Column("day", Date),
    Column("flag", Boolean),
    Column("count", Integer),
    Column("name", Text),
)


@pytest.fixture(scope="module")
def sqlite() -> Iterator[Connection]:
    engine = create_engine("sqlite://")
    with engine.connect() as connection:
        yield connection
    engine.dispose()


def sqlalchemy_own(connection: Connection, column: str) -> object:
    dialect = connection.dialect
    return TABLE.c[column].type.dialect_impl(dialect).bind_processor(dialect)


@given(moment=st.datetimes(), day=st.dates())
def test_dates_and_moments_are_formatted_as_sqlalchemy_formats_them(
    sqlite: Connection, moment: datetime, day: date
) -> None:
    moment_processor, day_processor, *_ = bind_processors(sqlite, TABLE)
    assert moment_processor is not None and day_processor is not None
    assert moment_processor(moment) == sqlalchemy_own(sqlite, "moment")(moment)  # type: ignore[operator]
    assert day_processor(day) == sqlalchemy_own(sqlite, "day")(day)  # type: ignore[operator]


def test_other_processors_are_sqlalchemy_own(sqlite: Connection) -> None:
    processors = bind_processors(sqlite, TABLE)
    assert processors[0] is not sqlalchemy_own(sqlite, "moment")  # replaced: formatted in C
    flag = processors[2]
    assert flag is not None and flag(True) == 1 and flag(False) == 0
    assert processors[3:] == [sqlalchemy_own(sqlite, "count"), sqlalchemy_own(sqlite, "name")]


SENT_LIKE = Table(
    "sent_like", MetaData(), Column("run", Integer), Column("key", Text), Column("name", Text), Column("flag", Boolean)
)
ROWS = st.lists(
    st.tuples(
        st.integers(-(2**63), 2**63 - 1),
        st.text(),  # any character: NUL, line and paragraph separators, quotes, backslashes, emoji
        st.none() | st.text(max_size=5),
        st.booleans(),
    ),
    max_size=20,
)


@pytest.fixture(scope="module")
def with_table() -> Iterator[Connection]:
    engine = create_engine("sqlite://")
    with engine.begin() as connection:
        SENT_LIKE.create(connection)
    with engine.connect() as connection:
        yield connection
    engine.dispose()


@given(rows=ROWS)
def test_the_json_append_stores_what_executemany_stores(with_table: Connection, rows: list[Any]) -> None:
    sqlite = with_table
    with sqlite.begin():
        sqlite.execute(delete(SENT_LIKE))
        with row_writer(sqlite, SENT_LIKE) as write:
            write(rows)
        by_driver = sqlite.execute(select(SENT_LIKE)).all()
        sqlite.execute(delete(SENT_LIKE))
        append_beside_a_reader(sqlite, SENT_LIKE, rows)
        assert sqlite.execute(select(SENT_LIKE)).all() == by_driver
    assert [tuple(row) for row in by_driver] == [tuple(row) for row in rows]


def test_the_append_takes_a_statement_per_thousand_rows_and_executemany_for_a_nul(with_table: Connection) -> None:
    sqlite = with_table
    statements: list[tuple[str, bool]] = []

    def seen(_connection: Any, _cursor: Any, statement: str, _parameters: Any, _context: Any, many: bool) -> None:
        statements.append((statement.split()[0], many))

    rows = [(number, f"K{number}", None, number % 2 == 0) for number in range(2500)]
    rows[1500] = (1500, "a\x00b", None, True)  # SQLite's JSON would end the text at the NUL: not in JSON
    event.listen(sqlite, "before_cursor_execute", seen)
    try:
        with sqlite.begin():
            sqlite.execute(delete(SENT_LIKE))
            statements.clear()
            append_beside_a_reader(sqlite, SENT_LIKE, rows)
            # The first and last thousand as one statement each; the middle one by the driver's executemany
            # (row_writer calls the driver itself, out of SQLAlchemy's sight).
            assert statements == [("INSERT", False), ("INSERT", False)]
            assert [tuple(row) for row in sqlite.execute(select(SENT_LIKE))] == rows
    finally:
        event.remove(sqlite, "before_cursor_execute", seen)
