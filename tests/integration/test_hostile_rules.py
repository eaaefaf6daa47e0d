"""Rules written to hurt: huge numbers, huge rules, deep nesting, combinations that would grow exponentially, a
stored rule that cannot be read. Each is refused with a clear message when saved, or kept to itself."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from segport.errors import InvalidInput
from segport.profiles.source import load_source
from segport.segments.compiler import members_condition
from segport.segments.membership import count_segment, estimate
from segport.segments.service import (
    create_segment,
    delete_segment,
    edit_segment,
    list_segments,
    resolver,
    set_active,
    show_segment,
)
from segport.store.tables import segments
from tests.support.app import App


@pytest.fixture
def profiled(app: App, tmp_path: Path) -> App:
    app.load_profiles(tmp_path, 200)
    return app


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("orders >= " + "9" * 400, "This number is out of range"),
        ("lifetime_value < -" + "1" * 40 + ".5", "This number is out of range"),
        ('city = "x" or ' * 2_000 + 'city = "y"', "characters long; segport takes rules of up to 10,000"),
        ("(" * 1_000 + 'city = "x"' + ")" * 1_000, "Parentheses are nested more than 20 deep"),
        ('city = "C:\\"', "This text value has no closing quote"),
        ('city = "' + "x" * 1_001 + '"', "longer than 1,000 characters"),
        ("city in (" + ", ".join(f'"c{number}"' for number in range(1_001)) + ")", "values; segport takes up to 1,000"),
        ('city = "a\x00b"', "control character"),
    ],
)
def test_a_rule_beyond_the_limits_is_refused_when_saved(profiled: App, rule: str, message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        create_segment(profiled.store, name="Hostile", rule_text=rule, actor="t")
    assert message in str(refused.value)
    assert len(str(refused.value)) < 12_000  # the message names the problem; it does not echo 100 KB back
    assert [view.name for view in list_segments(profiled.store)] == []


def test_a_backslash_ends_a_value_when_it_is_written_twice(profiled: App) -> None:
    with pytest.raises(InvalidInput) as refused:
        create_segment(profiled.store, name="Paths", rule_text='city = "C:\\"', actor="t")
    assert "To end a value with a backslash, write two" in str(refused.value)
    view = create_segment(profiled.store, name="Paths", rule_text='city = "C:\\\\"', actor="t")
    assert view.rule.model_dump()["conditions"][0]["value"] == "C:\\"


def test_a_stored_rule_that_cannot_be_read_breaks_only_its_own_segment(profiled: App) -> None:
    create_segment(profiled.store, name="Fine", rule_text='country = "CA"', actor="t")
    create_segment(profiled.store, name="Broken", rule_text='country = "US"', actor="t")
    with profiled.store.begin() as db:  # as an older segport could store it: a number JSON readers refuse
        db.execute(
            update(segments)
            .where(segments.c.name == "Broken")
            .values(
                definition='{"rule": {"type": "group", "join": "and", "conditions": [{"type": "condition", '
                '"field": "orders", "operator": ">=", "value": ' + "9" * 400 + "}]}}"
            )
        )
    listed = {view.name: view for view in list_segments(profiled.store)}
    assert set(listed) == {"Fine", "Broken"} and listed["Broken"].problem is not None
    assert count_segment(profiled.store, name="Fine") > 0
    with pytest.raises(InvalidInput, match="The rule of segment 'Broken' cannot be read"):
        count_segment(profiled.store, name="Broken")
    set_active(profiled.store, name="Broken", active=False, actor="t")
    edit_segment(profiled.store, name="Broken", rule_text='country = "US"', actor="t")
    assert show_segment(profiled.store, name="Broken").problem is None
    delete_segment(profiled.store, name="Broken", actor="t")


def test_combinations_compile_each_segment_once_and_stay_fast(profiled: App) -> None:
    create_segment(profiled.store, name="X0", rule_text='country = "CA"', actor="t")
    for level in range(1, 9):  # each level combines the one below three times: 3^8 paths
        below = f'"X{level - 1}"'
        create_segment(profiled.store, name=f"X{level}", rule_text=f"{below} union {below} union {below}", actor="t")
    source = load_source(profiled.store)
    condition = members_condition([show_segment(profiled.store, name="X8").rule], source, resolver(profiled.store))
    sql = str(select(func.count()).where(condition).compile(profiled.store.engine))
    assert sql.count("profiles.country") == 1 and len(sql) < 5_000  # X0's condition once: no exponential growth
    started = time.perf_counter()
    assert count_segment(profiled.store, name="X8") == count_segment(profiled.store, name="X0")
    assert time.perf_counter() - started < 5


def test_combinations_of_combinations_count_on_every_database(profiled: App) -> None:
    create_segment(profiled.store, name="Canada", rule_text='country = "CA"', actor="t")
    create_segment(profiled.store, name="Big", rule_text="orders >= 3", actor="t")
    create_segment(profiled.store, name="Both", rule_text='"Canada" intersect "Big"', actor="t")
    create_segment(profiled.store, name="Either", rule_text='"Canada" union "Big"', actor="t")
    create_segment(profiled.store, name="Exactly one", rule_text='"Either" except "Both"', actor="t")
    create_segment(profiled.store, name="Outer", rule_text='"Exactly one" union "Both"', actor="t")
    assert count_segment(profiled.store, name="Outer") == count_segment(profiled.store, name="Either")
    assert count_segment(profiled.store, name="Exactly one") == count_segment(
        profiled.store, name="Either"
    ) - count_segment(profiled.store, name="Both")


def test_combinations_nested_too_deep_are_refused_when_saved(profiled: App) -> None:
    create_segment(profiled.store, name="L0", rule_text='country = "CA"', actor="t")
    for level in range(1, 11):
        create_segment(profiled.store, name=f"L{level}", rule_text=f'"L{level - 1}" union "L0"', actor="t")
    with pytest.raises(InvalidInput, match="combined more than 10 levels deep"):
        create_segment(profiled.store, name="L11", rule_text='"L10" union "L0"', actor="t")


TOKENS = [*'()",\\=<>!-.0123456789', "and", "or", "in", "not", "between", "is", "empty", "with", "starts"]
TOKENS += [
    "country",
    "orders",
    "city",
    '"CA"',
    "union",
    "except",
    '"X"',
    "\x00",
    "é",
    "\n",
    "1e9",
    "99999999999999999999",
]
RULE_TEXTS = st.one_of(st.lists(st.sampled_from(TOKENS), max_size=30).map(" ".join), st.text(max_size=80))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(RULE_TEXTS)
def test_any_text_is_a_rule_or_a_clear_rule_error(profiled: App, text: str) -> None:
    refusal: InvalidInput | None = None
    try:
        estimate(profiled.store, rule_text=text)
    except InvalidInput as refused:  # anything else (a RecursionError, an OverflowError, SQL) fails the test
        refusal = refused
    assert refusal is None or (refusal.message and len(str(refusal)) < 12_000)
