"""Segment rules compiled for Snowflake, BigQuery and Trino, as JSON on stdout: `python -m tests.support.dialects`.

Run in a process of its own: importing those dialects registers SQL functions for every engine in the
process (sqlalchemy-bigquery's `unnest` replaces the one PostgreSQL's reflection uses, with a warning), which
must not leak into the other tests.
"""

from __future__ import annotations

import importlib
import json
from typing import Any

from sqlalchemy import Column, MetaData, Table, select

from segport.profiles.source import SQL_TYPES, Field, ProfileSource
from segport.segments.compiler import check_rule, members_condition, segment_keys
from segport.segments.model import Combination, Group
from segport.segments.parser import parse_rule

DIALECTS = {
    "snowflake": ("snowflake.sqlalchemy", "dialect"),
    "bigquery": ("sqlalchemy_bigquery", "BigQueryDialect"),
    "trino": ("trino.sqlalchemy.dialect", "TrinoDialect"),
}
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
OPERATORS = ("union", "intersect", "except")


def source() -> ProfileSource:
    # As load_source builds an external table: the warehouse's column names, reached by the fields' names.
    columns = [Column(field.source_name, SQL_TYPES[field.type](), key=field.name) for field in FIELDS]
    table = Table("customers", MetaData(), *columns, schema="crm")
    return ProfileSource("external", None, table, "customer_key", FIELDS, None, "crm.customers")  # type: ignore[arg-type]


def checked(text: str, profiles: ProfileSource) -> Group | Combination:
    rule, parser = parse_rule(text)
    return check_rule(rule, profiles, parser)


def compiled(dialect: Any) -> dict[str, Any]:
    profiles = source()
    key = profiles.table.c["customer_key"]
    rules: dict[str, dict[str, str]] = {}
    for kind, text in RULES.items():
        statement = select(key).where(members_condition([checked(text, profiles)], profiles, _no_segments))
        rules[kind] = {
            "bound": str(statement.compile(dialect=dialect)),
            "literal": str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True})),
        }
    named = {
        "Canada": checked('country = "CA"', profiles),
        "Big": checked("spend > 500", profiles),
        "Loyal": checked("orders >= 5", profiles),
    }

    def resolve(name: str) -> tuple[Group | Combination, bool]:
        return named[name], True

    combinations: dict[str, dict[str, str]] = {}
    for operator in OPERATORS:
        segments = ["Canada", "Big", "Loyal", "Canada"] if operator == "except" else ["Canada", "Big", "Loyal"]
        combined = Combination(operator=operator, segments=segments)
        everyone = select(key).where(members_condition([combined], profiles, resolve))
        combinations[operator] = {
            "keys": str(segment_keys(combined, profiles, resolve).compile(dialect=dialect)),
            "members": str(everyone.compile(dialect=dialect)),
        }
    return {"rules": rules, "combinations": combinations}


def _no_segments(name: str) -> tuple[Group | Combination, bool]:
    raise AssertionError(f"no segment is combined here, but {name!r} was asked for")


def main() -> None:
    found: dict[str, Any] = {}
    for name, (module, attribute) in DIALECTS.items():
        try:
            dialect = getattr(importlib.import_module(module), attribute)()
        except ImportError as missing:
            found[name] = {"missing": str(missing)}
            continue
        found[name] = compiled(dialect)
    print(json.dumps(found))


if __name__ == "__main__":
    main()
