"""Upgrading a store made by the first released schema (revision 0001), with rows in every one of its tables,
to the newest: nothing lost, every value kept, and the services read the upgraded rows. On SQLite and on
PostgreSQL. The rows hold what the first segport wrote (its statuses, batch states, kinds), found by reading
that version's code."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, inspect, select, text

from segport.clock import as_utc
from segport.config import Settings
from segport.exports import service as exports
from segport.runs.history import list_runs, show_run
from segport.segments import service as segments
from segport.store import open_store
from segport.store.database import SCHEMA_REVISION, _migrate, create_store_engine
from tests.support.app import postgresql_url, reset_postgresql

FIRST = "0001"
MOMENT = datetime(2026, 11, 25, 16, 13, 36, tzinfo=UTC)

# What the first segport wrote where a column takes one of a few values.
KNOWN: dict[tuple[str, str], Any] = {
    ("connections", "kind"): "constant_contact",
    ("profile_source", "kind"): "embedded",
    ("profile_fields", "type"): "text",
    ("runs", "status"): "Successful",
    ("runs", "trigger"): "manual",
    ("run_batches", "state"): "completed",
    ("run_events", "level"): "info",
    ("run_rows", "reason"): "invalid_email",
    ("segments", "definition"): '{"kind": "group", "operator": "and", "conditions": ['
    '{"kind": "condition", "field": "customer_id", "operator": "is_not_empty"}]}',
    ("segments", "rule_text"): "customer_id is not empty",
    ("exports", "list_id"): "6f1e4f37-2a5c-4e8b-9d51-3d2c7e8f0a11",
}


def value_for(table: str, column: Any, number: int) -> Any:
    if (table, column.name) in KNOWN:
        return KNOWN[(table, column.name)]
    kind = column.type.python_type
    if kind is bool:
        return number % 2 == 0
    if kind is int:
        return 10 + number
    if kind is datetime:
        return MOMENT
    return f"{table}.{column.name} {number}"


def seed(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Two rows in every table of the first schema, children pointing at their parents' rows."""
    metadata = MetaData()
    metadata.reflect(engine)
    tables = [table for table in metadata.sorted_tables if table.name != "alembic_version"]
    seeded: dict[str, list[dict[str, Any]]] = {}
    with engine.begin() as db:
        for table in tables:
            rows = []
            for number in (1, 2):
                row = {}
                for column in table.columns:
                    foreign = next(iter(column.foreign_keys), None)
                    if foreign is not None:
                        row[column.name] = seeded[foreign.column.table.name][number - 1][foreign.column.name]
                    elif column.primary_key and column.name == "id":
                        row[column.name] = number
                    else:
                        row[column.name] = value_for(table.name, column, number)
                rows.append(row)
            if table.name == "segment_dependencies":  # a segment cannot depend on itself
                rows = [{"segment_id": 2, "depends_on_id": 1}]
            db.execute(table.insert(), rows)
            seeded[table.name] = rows
    return seeded


def same(before: Any, after: Any) -> bool:
    if isinstance(before, datetime) and isinstance(after, datetime):
        return as_utc(before) == as_utc(after)
    return bool(before == after)


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_a_store_from_the_first_schema_upgrades_with_every_row_and_value_kept(tmp_path: Path, dialect: str) -> None:
    from alembic import command

    url = f"sqlite:///{tmp_path / 'segport.db'}"
    if dialect == "postgresql":
        found = postgresql_url()
        if found is None:
            pytest.skip("PostgreSQL store tests need SEGPORT_TEST_DATABASE_URL (bash .ci/run sets it)")
        reset_postgresql(found)
        url = found
    engine = create_store_engine(url, 30)
    try:
        _migrate(engine, lambda config: command.upgrade(config, FIRST))
        first_tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
        seeded = seed(engine)
    finally:
        engine.dispose()  # an engine left to the garbage collector warns in whichever test runs then
    assert set(seeded) == first_tables and len(first_tables) == 11  # every table of the first schema has rows

    settings = Settings(home=tmp_path, database_url=None if dialect == "sqlite" else url)
    store = open_store(settings)  # upgrades to the newest schema, as any command does on start
    with store.engine.connect() as db:
        assert db.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == SCHEMA_REVISION
    newest = MetaData()
    newest.reflect(store.engine)
    lost = []
    with store.engine.connect() as db:
        for name, rows in seeded.items():
            table = newest.tables[name]
            kept = [dict(row) for row in db.execute(select(table)).mappings()]
            if len(kept) != len(rows):
                lost.append(f"{name}: {len(rows)} rows before, {len(kept)} after")
                continue
            key = [column.name for column in table.primary_key.columns] or list(rows[0])
            by_key = {tuple(row[part] for part in key): row for row in kept}
            for row in rows:
                after = by_key.get(tuple(row[part] for part in key))
                if after is None:
                    lost.append(f"{name}: the row {row} is gone")
                    continue
                changed = [
                    f"{column}: {value!r} -> {after[column]!r}"
                    for column, value in row.items()
                    if column in after and not same(value, after[column])
                ]
                if changed:
                    lost.append(f"{name} {tuple(row[part] for part in key)}: " + "; ".join(changed))
    assert lost == [], "\n".join(lost)

    # The services read the upgraded rows as they read their own.
    assert [view.name for view in segments.list_segments(store)] == ["segments.name 1", "segments.name 2"]
    listed = exports.list_exports(store)
    assert [view.name for view in listed] == ["exports.name 1", "exports.name 2"] and listed[0].mode == "add"
    runs = list_runs(store)
    assert [view.id for view in runs] == [2, 1] and all(view.status == "Successful" for view in runs)
    detail = show_run(store, run_id=1)
    assert len(detail.batches) == 1 and detail.batches[0]["state"] == "completed" and detail.rows_not_sent == 1
    store.close()
