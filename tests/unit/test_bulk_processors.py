"""The bulk writer's own formatting of SQLite dates and moments: the same text as SQLAlchemy's, or not used."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Boolean, Column, Connection, Date, DateTime, Integer, MetaData, Table, Text, create_engine

from segport.store.bulk import bind_processors

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
