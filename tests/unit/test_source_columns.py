"""The kind of a warehouse column from the type name its driver reports (DuckDB, Snowflake, BigQuery...)."""

from __future__ import annotations

import pytest

from segport.profiles.columns import kind_of_name


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("VARCHAR", "text"),
        ("BOOLEAN", "boolean"),
        ("BOOL", "boolean"),
        ("INTEGER", "integer"),
        ("BIGINT", "integer"),
        ("HUGEINT", "integer"),
        ("UBIGINT", "integer"),
        ("INT64", "integer"),
        ("INT4", "integer"),
        ("DECIMAL(10,2)", "number"),
        ("NUMBER(38,0)", "number"),
        ("DOUBLE", "number"),
        ("DOUBLE PRECISION", "number"),
        ("FLOAT64", "number"),
        ("BIGNUMERIC", "number"),
        ("DATE", "date"),
        ("TIMESTAMP", "datetime"),
        ("TIMESTAMP WITH TIME ZONE", "datetime"),
        ("TIMESTAMP_NTZ", "datetime"),
        ("TIMESTAMP(6)", "datetime"),
        ("DATETIME", "datetime"),
        # Not a kind segments compare: text, which rules can still test for emptiness and equality.
        ("INTEGER[]", "text"),
        ("INTERVAL", "text"),
        ("DATE[]", "text"),
        ("STRUCT(a INTEGER)", "text"),
        ("BLOB", "text"),
        ("", "text"),
    ],
)
def test_a_type_name_gives_the_kind_a_rule_compares(name: str, kind: str) -> None:
    assert kind_of_name(name) == kind
    assert kind_of_name(name.lower()) == kind
