"""A warehouse's columns of types segport reads as text (JSON, arrays, intervals, bytes, addresses, lists) and its
infinite moments: rules over them count, previews and runs read them (SQLite and PostgreSQL stores).

On PostgreSQL, `tags is not empty` over an int[] failed ("operator does not exist: integer[] = character varying")
and a preview holding a timestamp of 'infinity' failed ("timestamp too large"): both unexpected errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from segport.exports import launch
from segport.exports import service as exports
from segport.profiles.service import connect_external
from segport.runs.history import show_run
from segport.segments.membership import count_segment, preview_segment
from segport.segments.service import create_segment
from tests.support.app import App, postgresql_warehouse

# (rule, members) over the two rows below: the first has every value, the second none but its address.
RULES = [
    ('details contains "ann"', 1),
    ("tags is not empty", 1),
    ("span is not empty", 1),
    ("blob is not empty", 1),
    ("seen is not empty", 2),
    ("email is not empty", 2),
]


def _postgresql_warehouse() -> tuple[str, str]:
    url = postgresql_warehouse(
        "odd",
        "CREATE TABLE odd.customers (id uuid, email text, details jsonb, tags int[], blob bytea, span interval, "
        "address inet, seen timestamptz)",
        "INSERT INTO odd.customers VALUES ('11111111-1111-1111-1111-111111111111', 'ann@example.com', "
        "'{\"name\": \"Ann\"}', '{1,2}', '\\x00ff', '1 day', '10.0.0.1', 'infinity'), "
        "('22222222-2222-2222-2222-222222222222', 'bob@example.com', NULL, NULL, NULL, NULL, NULL, '-infinity')",
    )
    return url, "odd.customers"


def _duckdb_warehouse(tmp_path: Path) -> tuple[str, str]:
    pytest.importorskip("duckdb_engine")
    url = f"duckdb:///{tmp_path / 'odd.duckdb'}"
    engine = create_engine(url)
    with engine.begin() as db:
        db.execute(
            text(
                "CREATE TABLE customers (id uuid, email varchar, details struct(name varchar), tags integer[], "
                "blob blob, span interval, address varchar, seen timestamp)"
            )
        )
        db.execute(
            text(
                "INSERT INTO customers VALUES ('11111111-1111-1111-1111-111111111111', 'ann@example.com', "
                "{'name': 'Ann'}, [1, 2], '\\x00\\xff'::blob, INTERVAL 1 DAY, '10.0.0.1', 'infinity'), "
                "('22222222-2222-2222-2222-222222222222', 'bob@example.com', NULL, NULL, NULL, NULL, NULL, "
                "'-infinity')"
            )
        )
    engine.dispose()
    return url, "customers"


@pytest.mark.parametrize("warehouse", ["postgresql", "duckdb"])
def test_rules_previews_and_runs_work_over_columns_read_as_text(app: App, tmp_path: Path, warehouse: str) -> None:
    url, table = _postgresql_warehouse() if warehouse == "postgresql" else _duckdb_warehouse(tmp_path)
    connect_external(app.store, url=url, table=table, key="id", actor="t")
    for number, (rule, members) in enumerate(RULES):
        create_segment(app.store, name=f"Rule {number}", rule_text=rule, actor="t")
        assert count_segment(app.store, name=f"Rule {number}") == members, rule
    columns, rows = preview_segment(app.store, name=f"Rule {len(RULES) - 1}")
    first = dict(zip(columns, rows[0], strict=True))
    assert "ann" in str(first["details"]).lower() and "1" in str(first["tags"])  # the column's text
    if warehouse == "postgresql":  # psycopg refused them; DuckDB gives Python's largest and smallest moments
        assert [row[columns.index("seen")] for row in rows] == [None, None]
    app.connect("CC")
    list_id = app.emulator.create_list("Odd")
    exports.add_export(
        app.store, app.settings, name="Odd", connection="CC", list_id=list_id, email_field="email",
        first_name_field="details", segment_names=[f"Rule {len(RULES) - 1}"], actor="t", http=app.http,
    )  # fmt: skip
    run_id = launch.run_export(app.store, app.settings, name="Odd", actor="t", http=app.http)
    view = show_run(app.store, run_id=run_id)
    assert view.status == "Successful", view.message
    assert sorted(app.emulator.members(list_id)) == ["ann@example.com", "bob@example.com"]
