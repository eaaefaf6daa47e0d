"""Property test: what the database selects for a random rule is what the rule means, row by row.

Rules are drawn at random over text, integer and boolean fields (with empty values); each is compiled to SQL
(text is not ordered with < or >: the order of text depends on the database's collation)
and run on SQLite (and PostgreSQL when configured); the keys it selects must equal a plain-Python
evaluation of the same rule, written here from the documented meaning of each operator.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from segport.config import Settings
from segport.profiles.importer import import_profiles
from segport.profiles.source import ProfileSource, load_source
from segport.segments.compiler import check_rule, members_condition
from segport.segments.model import Condition, Group
from segport.store import Store, open_store
from tests.support.app import postgresql_url, reset_postgresql

TEXTS = ["", "a", "b", "ab", "Ab", "ba", "a_b", "50%"]
ROWS = [
    (str(key), TEXTS[key % len(TEXTS)], (key * 7) % 6 - 2 if key % 5 else None, [True, False, None][key % 3])
    for key in range(1, 61)
]


def _csv_value(value: object) -> str:
    return "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def loaded(request: pytest.FixtureRequest) -> Iterator[tuple[Store, ProfileSource]]:
    url = None
    if request.param == "postgresql":
        url = postgresql_url()
        if url is None:
            pytest.skip("needs SEGPORT_TEST_DATABASE_URL (set by .ci/run)")
        reset_postgresql(url)
    with tempfile.TemporaryDirectory() as home:
        store = open_store(Settings(home=Path(home), database_url=url))
        path = Path(home) / "rows.csv"
        lines = ["key,word,number,flag"] + [",".join(_csv_value(v) for v in row) for row in ROWS]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        import_profiles(store, path, key="key", actor="t")
        yield store, load_source(store)
        store.close()


def conditions() -> st.SearchStrategy[Condition]:
    word = st.sampled_from(TEXTS[1:])
    number = st.integers(-3, 4)
    return st.one_of(
        st.builds(
            lambda op, v: Condition(field="word", operator=op, value=v),
            st.sampled_from(["=", "!=", "contains", "starts with", "ends with"]),
            word,
        ),
        st.builds(
            lambda op, v: Condition(field="number", operator=op, value=v),
            st.sampled_from(["=", "!=", "<", "<=", ">", ">="]),
            number,
        ),
        st.builds(
            lambda v: Condition(field="number", operator="between", value=sorted(v)),
            st.lists(number, min_size=2, max_size=2),
        ),
        st.builds(
            lambda op, v: Condition(field="word", operator=op, value=v),
            st.sampled_from(["in", "not in"]),
            st.lists(word, min_size=1, max_size=3),
        ),
        st.builds(
            lambda op, v: Condition(field="flag", operator=op, value=v), st.sampled_from(["=", "!="]), st.booleans()
        ),
        st.builds(
            lambda f, op: Condition(field=f, operator=op),
            st.sampled_from(["word", "number", "flag"]),
            st.sampled_from(["is empty", "is not empty"]),
        ),
    )


rules = st.recursive(
    st.builds(lambda c: Group(join="and", conditions=[c]), conditions()),
    lambda inner: st.builds(
        lambda join, items: Group(join=join, conditions=items),
        st.sampled_from(["and", "or"]),
        st.lists(st.one_of(inner, conditions()), min_size=1, max_size=3),
    ),
    max_leaves=6,
)


def holds(condition: Condition, row: tuple[Any, ...]) -> bool:
    value = {"word": row[1], "number": row[2], "flag": row[3]}[condition.field]
    empty = value is None or value == ""
    operator, wanted = condition.operator, condition.value
    if operator == "is empty":
        return empty
    if operator == "is not empty":
        return not empty
    if condition.field == "word" and value == "":
        value = None  # an empty text cell is stored as NULL
    if operator == "!=":
        return value is None or value != wanted
    if operator == "not in":
        return value is None or value not in wanted  # type: ignore[operator]
    if value is None:
        return False
    if operator in ("contains", "starts with", "ends with"):
        text, part = str(value).lower(), str(wanted).lower()
        return {"contains": part in text, "starts with": text.startswith(part), "ends with": text.endswith(part)}[
            operator
        ]
    if operator == "in":
        return value in wanted  # type: ignore[operator]
    if operator == "between":
        return wanted[0] <= value <= wanted[1]  # type: ignore[index,operator]
    return {
        "=": value == wanted,
        "<": value < wanted,
        "<=": value <= wanted,
        ">": value > wanted,  # type: ignore[operator]
        ">=": value >= wanted,
    }[operator]  # type: ignore[operator]


def evaluate(rule: Group, row: tuple[Any, ...]) -> bool:
    results = [evaluate(item, row) if isinstance(item, Group) else holds(item, row) for item in rule.conditions]
    return all(results) if rule.join == "and" else any(results)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rule=rules)
def test_the_database_selects_exactly_what_the_rule_means(loaded: tuple[Store, ProfileSource], rule: Group) -> None:
    _, source = loaded
    condition = members_condition([check_rule(rule, source)], source, lambda name: (rule, True))
    with source.engine.connect() as connection:
        selected = set(connection.execute(select(source.table.c.key).where(condition)).scalars())
    expected = {row[0] for row in ROWS if evaluate(rule, row)}
    assert selected == expected, rule.model_dump_json()
