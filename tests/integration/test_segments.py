"""Segments evaluated by the database, on SQLite and PostgreSQL: every operator, combinations, the rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from segport.errors import InvalidInput, Refused, UnknownName
from segport.profiles.importer import import_profiles
from segport.profiles.service import connect_external
from segport.profiles.source import load_source
from segport.segments import membership, service
from segport.segments.compiler import check_rule, rule_condition
from segport.segments.model import Group
from segport.segments.parser import SegmentSyntaxError, parse_rule
from tests.support.app import App, postgresql_warehouse

PROFILES = """id,name,country,spend,orders,vip,joined,seen,email
1,Ana Sousa,CA,120.5,3,true,2024-01-15,2024-01-15T10:00:00,ana@x.io
2,Bo McKay,US,0,0,false,2023-06-01,2023-06-01T08:30:00,bo@x.io
3,Chloé Côté,CA,980,12,true,2022-11-30,2022-11-30T23:59:00,
4,Dev_100%,FR,,1,,2024-03-01,,dev@x.io
5,,CA,50,2,false,,2024-05-05T05:05:05,eve@x.io
"""


@pytest.fixture
def loaded(app: App, tmp_path: Path) -> App:
    path = tmp_path / "profiles.csv"
    path.write_text(PROFILES, encoding="utf-8")
    import_profiles(app.store, path, key="id", actor="tester")
    return app


def members(app: App, rule: str, name: str = "s") -> list[str]:
    service.create_segment(app.store, name=name, rule_text=rule, actor="tester")
    _, rows = membership.preview_segment(app.store, name=name)
    count = membership.count_segment(app.store, name=name)
    assert count == len(rows)
    return [str(row[0]) for row in rows]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ('country = "CA"', ["1", "3", "5"]),
        ('country != "CA"', ["2", "4"]),
        ("spend < 50", ["2"]),
        ("spend <= 50", ["2", "5"]),
        ("orders > 2", ["1", "3"]),
        ("orders >= 2", ["1", "3", "5"]),
        ('country in ("US", "FR")', ["2", "4"]),
        ("orders not in (0, 1)", ["1", "3", "5"]),
        ('name contains "mc"', ["2"]),
        ('name contains "100%"', ["4"]),
        ('name contains "_"', ["4"]),
        ('name starts with "chlo"', ["3"]),
        ('name ends with "SOUSA"', ["1"]),
        ("name is empty", ["5"]),
        ("email is not empty", ["1", "2", "4", "5"]),
        ("spend is empty", ["4"]),
        ("orders between 1 and 3", ["1", "4", "5"]),
        ('joined between "2023-01-01" and "2024-01-31"', ["1", "2"]),
        ('joined >= "2024-01-01"', ["1", "4"]),
        ('seen < "2023-01-01T00:00:00"', ["3"]),
        ("vip = true", ["1", "3"]),
        ("vip != true", ["2", "4", "5"]),
        ('(country = "CA" and vip = true) or orders = 1', ["1", "3", "4"]),
        ('country = "CA" and (spend >= 100 or name is empty)', ["1", "3", "5"]),
        ('country = "ZZ"', []),
    ],
)
def test_each_operator_selects_the_right_profiles(loaded: App, rule: str, expected: list[str]) -> None:
    assert members(loaded, rule) == expected


def test_text_matches_differing_only_in_field_or_text_each_find_their_own_profiles(loaded: App) -> None:
    """One statement shape on one engine, as an export's members query is for every export: SQLAlchemy caches
    the compiled form by the statement's key, so a match whose field or text were left out of that key would
    reuse the first one's SQL or value."""
    asked = [
        ('name contains "mc"', ["2"]),
        ('email contains "mc"', []),
        ('name contains "sousa"', ["1"]),
        ('country contains "a"', ["1", "3", "5"]),
        ('name starts with "bo"', ["2"]),
        ('email starts with "e"', ["5"]),
        ('email ends with "x.io"', ["1", "2", "4", "5"]),
        ('name ends with "x.io"', []),
    ]
    source = load_source(loaded.store)
    key = source.table.c[source.key]
    with source.engine.connect() as db:
        for rule, expected in asked:
            parsed, parser = parse_rule(rule)
            checked = check_rule(parsed, source, parser)
            assert isinstance(checked, Group)
            condition = rule_condition(checked, source)
            assert sorted(map(str, db.execute(select(key).where(condition)).scalars())) == expected, rule


def test_segments_combine_by_union_intersect_and_except(loaded: App) -> None:
    service.create_segment(loaded.store, name="Canada", rule_text='country = "CA"', actor="t")
    service.create_segment(loaded.store, name="VIP", rule_text="vip = true", actor="t")
    service.create_segment(loaded.store, name="Any order", rule_text="orders >= 1", actor="t")
    assert members(loaded, '"Canada" union "Any order"', "u") == ["1", "3", "4", "5"]
    assert members(loaded, '"Canada" intersect "VIP"', "i") == ["1", "3"]
    assert members(loaded, '"Canada" except "VIP"', "e") == ["5"]
    service.set_active(loaded.store, name="VIP", active=False, actor="t")
    assert membership.count_segment(loaded.store, name="i") == 0  # an inactive segment has no members
    assert membership.count_segment(loaded.store, name="e") == 3
    with pytest.raises(Refused, match="combined into: e, i"):
        service.delete_segment(loaded.store, name="VIP", actor="t")
    # The rule is wrong (422 in the API), not the address (404): the refusal names the segment and the rule field.
    with pytest.raises(InvalidInput, match="combines the segment 'Nope', which does not exist") as refused:
        service.create_segment(loaded.store, name="x", rule_text='"Canada" union "Nope"', actor="t")
    assert refused.value.field == "rule" and "Segments: " in (refused.value.hint or "")


@pytest.mark.parametrize(
    ("rule", "problem", "column"),
    [
        ('contry = "CA"', "Unknown field 'contry'", 1),
        ("country = 5", "5 is not a text value for country", 11),
        ('spend > "a lot"', "'a lot' is not a number value", 9),
        ('joined > "31/01/2024"', "'31/01/2024' is not a date value", 10),
        ('vip contains "t"', "vip is a boolean field: 'contains' does not apply", 1),
        ('spend starts with "1"', "spend is a number field", 1),
        ("vip = 1", "1 is not a boolean value", 7),
    ],
)
def test_rule_mistakes_point_at_the_place(loaded: App, rule: str, problem: str, column: int) -> None:
    with pytest.raises(SegmentSyntaxError) as raised:
        service.create_segment(loaded.store, name="bad", rule_text=rule, actor="t")
    assert problem in raised.value.problem
    assert raised.value.start + 1 == column
    with pytest.raises(UnknownName):
        service.show_segment(loaded.store, name="bad")  # nothing was stored


def test_a_segment_has_a_unique_name_and_a_preview_of_at_most_100(app: App, tmp_path: Path) -> None:
    app.load_profiles(tmp_path, 250)
    service.create_segment(app.store, name="All", rule_text="customer_id is not empty", actor="t")
    columns, rows = membership.preview_segment(app.store, name="All")
    assert columns[0] == "customer_id" and len(rows) == 100
    assert [row[0] for row in rows] == sorted(row[0] for row in rows)
    with pytest.raises(Refused, match="already exists"):
        service.create_segment(app.store, name="All", rule_text='country = "CA"', actor="t")


def test_no_profiles_loaded_yet_is_explained(app: App) -> None:
    with pytest.raises(InvalidInput, match="No customer profiles are loaded yet"):
        service.create_segment(app.store, name="x", rule_text='a = "b"', actor="t")


def test_at_most_100_active_segments(loaded: App, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "MAX_ACTIVE_SEGMENTS", 2)
    service.create_segment(loaded.store, name="a", rule_text="vip = true", actor="t")
    service.create_segment(loaded.store, name="b", rule_text="vip = true", actor="t")
    with pytest.raises(Refused, match="already 2 active segments"):
        service.create_segment(loaded.store, name="c", rule_text="vip = true", actor="t")
    service.create_segment(loaded.store, name="c", rule_text="vip = true", actor="t", active=False)
    with pytest.raises(Refused):
        service.set_active(loaded.store, name="c", active=True, actor="t")


def test_an_external_postgresql_table_is_the_source_and_segments_run_there(app: App) -> None:
    url = postgresql_warehouse(
        "crm",
        'CREATE TABLE crm.customers ("Customer Key" text primary key, "Email" text, "Country" text, "Spend" numeric, '
        '"Joined" date)',
        "INSERT INTO crm.customers VALUES ('k1','a@x.io','CA',10,'2024-01-01'),"
        "('k2','b@x.io','US',99,'2024-02-01'),('k3','c@x.io','CA',500,'2023-01-01')",
        'CREATE VIEW crm.big_spenders AS SELECT * FROM crm.customers WHERE "Spend" > 50',
    )
    described = connect_external(app.store, url=url, table="crm.customers", key="Customer Key", actor="t")
    assert [(f.name, f.type) for f in described.fields] == [
        ("customer_key", "text"),
        ("email", "text"),
        ("country", "text"),
        ("spend", "number"),
        ("joined", "date"),
    ]
    assert described.row_count == 3
    assert members(app, 'country = "CA" and spend >= 100', "big ca") == ["k3"]
    assert members(app, 'joined < "2024-01-15"', "early") == ["k1", "k3"]
    connect_external(app.store, url=url, table="crm.big_spenders", key="Customer Key", actor="t")
    assert membership.count_segment(app.store, name="big ca") == 1
    with pytest.raises(InvalidInput, match="no table or view 'crm.nothing'"):
        connect_external(app.store, url=url, table="crm.nothing", key="x", actor="t")
    with pytest.raises(InvalidInput, match="Cannot read t at postgresql://nobody@127.0.0.1:1/none .*refused"):
        connect_external(app.store, url="postgresql://nobody@127.0.0.1:1/none", table="t", key="x", actor="t")
