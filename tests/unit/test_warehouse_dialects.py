"""Every kind of segment rule compiles for the analytic engines teams keep profiles in: Snowflake, BigQuery
and Trino (their SQLAlchemy dialects compile without a server), with every operator on every kind of field,
combinations of segments as common table expressions, and the values bound or rendered as literals."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import Column, MetaData, Table, select

from segport.profiles.source import SQL_TYPES, Field, ProfileSource
from segport.segments.compiler import check_rule, members_condition, segment_keys
from segport.segments.model import Combination, Group
from segport.segments.parser import parse_rule

FIELDS = [
    Field("customer_key", "text", "Customer Key"),
    Field("email", "text", "Email"),
    Field("country", "text", "Country"),
    Field("orders", "integer", "Orders"),
    Field("spend", "number", "Spend"),
    Field("vip", "boolean", "VIP"),
    Field("joined", "date", "Joined"),
    Field("last_seen", "datetime", "Last Seen"),
]
# Every operator, on every kind of field it applies to.
RULES = {
    "text": 'country = "CA" and country != "US" and country in ("CA", "FR") and country not in ("DE") '
    'and email contains "50%_off" and email starts with "a" and email ends with ".io" and email is not empty',
    "integer": "orders >= 2 and orders < 10 and orders between 3 and 8 and orders in (3, 4) and orders != 5",
    "number": "spend > 99.5 and spend <= 1000 and spend between 0.5 and 10000 and spend is not empty",
    "boolean": "vip = true or vip is empty",
    "date": 'joined >= "2024-01-01" and joined between "2023-01-01" and "2025-12-31"',
    "datetime": 'last_seen < "2026-11-30T09:30:00" and last_seen > "2026-01-01T00:00:00"',
    "nested": '(country = "CA" or (orders > 1 and vip = true)) and email is not empty',
}


def dialects() -> list[Any]:
    found = []
    for module, attribute in (
        ("snowflake.sqlalchemy", "dialect"),
        ("sqlalchemy_bigquery", "BigQueryDialect"),
        ("trino.sqlalchemy.dialect", "TrinoDialect"),
    ):
        imported = pytest.importorskip(module)
        found.append(getattr(imported, attribute)())
    return found


@pytest.fixture(scope="module")
def source() -> ProfileSource:
    # As load_source builds an external table: the warehouse's column names, reached by the fields' names.
    columns = [Column(field.source_name, SQL_TYPES[field.type](), key=field.name) for field in FIELDS]
    table = Table("customers", MetaData(), *columns, schema="crm")
    return ProfileSource("external", None, table, "customer_key", FIELDS, None, "crm.customers")  # type: ignore[arg-type]


def checked(text: str, source: ProfileSource) -> Group | Combination:
    rule, parser = parse_rule(text)
    return check_rule(rule, source, parser)


@pytest.mark.parametrize("dialect", dialects(), ids=lambda dialect: dialect.name)
@pytest.mark.parametrize("kind", list(RULES))
def test_every_operator_on_every_kind_of_field_compiles(source: ProfileSource, dialect: Any, kind: str) -> None:
    rule = checked(RULES[kind], source)
    statement = select(source.table.c["customer_key"]).where(members_condition([rule], source, _no_segments))
    bound = str(statement.compile(dialect=dialect))
    literal = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    assert "crm" in bound and "customers" in bound and "WHERE" in bound
    if kind == "text":  # LIKE escapes the rule's own % and _: they are looked for as such
        assert "50\\" in literal and "\\_off" in literal and "ESCAPE" in literal, literal
    if kind == "date":
        assert "2024-01-01" in literal
    if kind == "integer":
        assert "BETWEEN" in bound.upper() and " IN " in bound.upper()


@pytest.mark.parametrize("dialect", dialects(), ids=lambda dialect: dialect.name)
@pytest.mark.parametrize("operator", ["union", "intersect", "except"])
def test_combined_segments_compile_to_one_cte_each(source: ProfileSource, dialect: Any, operator: str) -> None:
    rules = {
        "Canada": checked('country = "CA"', source),
        "Big": checked("spend > 500", source),
        "Loyal": checked("orders >= 5", source),
    }

    def resolve(name: str) -> tuple[Group | Combination, bool]:
        return rules[name], True

    combined = Combination(operator=operator, segments=["Canada", "Big", "Loyal", "Canada"])
    if operator != "except":
        combined = Combination(operator=operator, segments=["Canada", "Big", "Loyal"])
    sql = str(segment_keys(combined, source, resolve).compile(dialect=dialect))
    assert sql.lstrip().upper().startswith("WITH")  # each segment once, as a common table expression
    assert len(set(re.findall(r"segment_\d+_\d+", sql))) == 3 and operator.upper() in sql.upper()
    everyone = select(source.table.c["customer_key"]).where(members_condition([combined], source, resolve))
    assert "IN" in str(everyone.compile(dialect=dialect)).upper()


def _no_segments(name: str) -> tuple[Group | Combination, bool]:
    raise AssertionError(f"no segment is combined here, but {name!r} was asked for")
