"""The store itself: migrations on SQLite and PostgreSQL, WAL mode, clear refusals for a bad database URL."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Connection, event, func, inspect, select, text

from segport.config import Settings
from segport.errors import ConfigurationError
from segport.exports import launch
from segport.segments.service import create_segment
from segport.store import open_store
from segport.store.bulk import LARGE_PAGE_CACHE_KIB, large_page_cache
from segport.store.database import SCHEMA_REVISION, downgrade, upgrade
from segport.store.tables import metadata
from tests.support.app import App


def test_migrations_create_every_table_and_record_the_head(app: App) -> None:
    tables = set(inspect(app.store.engine).get_table_names())
    assert {
        "profile_source",
        "profile_fields",
        "segments",
        "segment_dependencies",
        "connections",
        "exports",
        "export_segments",
        "runs",
        "run_batches",
        "run_events",
        "run_rows",
        "sync_state",
        "sync_skipped",
        "run_sent",
        "profile_versions",
        "profile_changes",
        "alembic_version",
    } <= tables
    with app.store.engine.connect() as db:
        assert db.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == SCHEMA_REVISION
    again = open_store(app.settings)  # applying them again changes nothing
    again.close()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    store = open_store(Settings(home=tmp_path))
    with store.engine.connect() as db:
        assert db.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert db.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
    store.close()


def test_sqlite_keeps_the_connections_many_requests_at_once_need_instead_of_opening_new_ones(tmp_path: Path) -> None:
    """Fifteen requests at once, five times over (the API serves many at once from its threads): the store opens
    fifteen connections and reuses them. With SQLAlchemy's default of 5 kept, ten were opened again every round,
    each paying for the file's opening and its pragmas."""
    store = open_store(Settings(home=tmp_path))
    opened = []
    event.listen(store.engine, "connect", lambda *_: opened.append(1))
    at_once = 15
    together = threading.Barrier(at_once)

    def request() -> None:
        with store.read() as db:
            db.execute(text("SELECT 1"))
            together.wait(timeout=30)  # every request holds its connection at the same time

    for _ in range(5):
        threads = [threading.Thread(target=request) for _ in range(at_once)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    store.close()
    assert len(opened) <= at_once, f"{len(opened)} connections opened for {at_once} at once"


@pytest.mark.parametrize("database_url", [None])  # SQLite only: PostgreSQL's buffers are the server's
def test_sqlite_takes_a_larger_page_cache_for_a_large_write_only_and_every_pooled_connection_gives_it_back(
    app: App, tmp_path: Path
) -> None:
    # 16 MB kept by every pooled connection was 40 MB of the 1M export's peak RSS (store.bulk.large_page_cache).
    app.load_profiles(tmp_path, 40)
    create_segment(app.store, name="All", rule_text="customer_id is not empty", actor="t")
    app.connect("CC")
    app.add_export("E", "CC", ["All"])
    assert launch.run_export(app.store, app.settings, name="E", actor="t", http=app.http)
    seen = []

    def failing_write(db: Connection) -> None:
        with large_page_cache(db):
            seen.append(db.execute(text("PRAGMA cache_size")).scalar_one())
            raise LookupError("the write failed")

    with app.store.begin() as db:
        default = db.execute(text("PRAGMA cache_size")).scalar_one()
        with pytest.raises(LookupError):
            failing_write(db)
        assert seen == [-LARGE_PAGE_CACHE_KIB]
        assert db.execute(text("PRAGMA cache_size")).scalar_one() == default  # given back on failure too
    assert default == -2000  # SQLite's own
    idle = app.store.engine.pool.checkedin()  # type: ignore[attr-defined]
    assert idle >= 1  # among them the one that acknowledged the run's batch
    held = [app.store.engine.connect() for _ in range(idle)]
    try:
        assert [db.execute(text("PRAGMA cache_size")).scalar_one() for db in held] == [default] * idle
    finally:
        for db in held:
            db.close()


@pytest.mark.parametrize("url", ["postgresql://nobody@127.0.0.1:1/none", "sqlite:////nonexistent-dir/x/segport.db"])
def test_a_database_that_cannot_be_opened_is_explained_without_the_password(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigurationError, match="cannot be opened") as raised:
        open_store(Settings(home=tmp_path, database_url=url.replace("nobody@", "nobody:hunter2@")))
    assert "hunter2" not in str(raised.value)
    assert "SEGPORT_DATABASE_URL" in raised.value.hint


def test_the_schema_revision_segport_expects_is_alembics_head() -> None:
    from alembic.script import ScriptDirectory

    from segport.store.database import MIGRATIONS, SCHEMA_REVISION

    assert ScriptDirectory(str(MIGRATIONS)).get_current_head() == SCHEMA_REVISION


def test_the_migrations_build_exactly_the_tables_segport_declares(app: App) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from segport.store.tables import metadata

    with app.store.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []


def test_a_read_does_not_wait_for_a_writer_on_sqlite(tmp_path: Path) -> None:
    """Pages and API reads go through `read`; a writer holding the lock (a run's checkpoint) must not stall them."""
    store = open_store(Settings(home=tmp_path))
    finished = threading.Event()

    def read_while_locked() -> None:
        with store.read() as db:
            db.execute(text("SELECT count(*) FROM exports")).scalar_one()
        finished.set()

    with store.begin() as db:  # takes SQLite's write lock (BEGIN IMMEDIATE) and keeps it until the block ends
        db.execute(text("UPDATE profile_source SET row_count = 0"))
        reader = threading.Thread(target=read_while_locked)
        reader.start()
        # The busy timeout is 30 s: a reader that asked for the lock would still be waiting after 10.
        assert finished.wait(10), "store.read() waited for the write lock"
    reader.join()
    store.close()


def test_migrating_down_and_up_keeps_every_run_and_sync_row(app: App, tmp_path: Path) -> None:
    """0008 rebuilds the exports table on SQLite; with foreign keys on, that would cascade into child rows."""
    app.load_profiles(tmp_path, 40)
    create_segment(app.store, name="All", rule_text="customer_id is not empty", actor="t")
    app.connect("CC")
    app.add_export("E", "CC", ["All"])
    launch.run_export(app.store, app.settings, name="E", actor="t", http=app.http)
    children = ("exports", "export_segments", "runs", "run_batches", "run_events", "run_rows", "sync_state")

    def counted() -> dict[str, int]:
        with app.store.read() as db:
            return {
                name: db.execute(select(func.count()).select_from(metadata.tables[name])).scalar_one()
                for name in children
            }

    before = counted()
    assert before["runs"] == 1 and before["sync_state"] > 0 and before["run_rows"] > 0
    downgrade(app.store.engine, "0007")
    assert counted() == before
    upgrade(app.store.engine)
    assert counted() == before
    [column] = [c for c in inspect(app.store.engine).get_columns("exports") if c["name"] == "connection_id"]
    assert column["nullable"]
    with app.store.read() as db:
        assert db.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == SCHEMA_REVISION


def test_stepping_back_before_0013_drops_rows_of_removed_exports_and_runs_and_restores_the_foreign_keys(
    app: App, tmp_path: Path
) -> None:
    """Without foreign keys a row could outlive its export or run (a bug, a hand edit); older segports'
    constraints would refuse it, so the downgrade deletes such rows first and keeps every other."""
    app.load_profiles(tmp_path, 5)
    create_segment(app.store, name="All", rule_text="customer_id is not empty", actor="t")
    app.connect("CC")
    export_id = app.add_export("E", "CC", ["All"]).id
    kept = {"export_id": export_id, "profile_key": "kept"}
    with app.store.begin() as db:
        for values in (kept, {"export_id": export_id + 7, "profile_key": "orphan"}):
            db.execute(
                metadata.tables["sync_state"].insert(),
                {**values, "email": "a@example.com", "added_by_export": True, "outcome": "added", "last_run_id": 1},
            )
        db.execute(
            metadata.tables["run_sent"].insert(),
            {
                "run_id": 99,
                "batch_number": 1,
                "profile_key": "orphan",
                "email": "a@example.com",
                "on_list_before": False,
            },
        )
    downgrade(app.store.engine, "0012")
    with app.store.read() as db:
        assert db.execute(text("SELECT profile_key FROM sync_state")).scalars().all() == ["kept"]
        assert db.execute(text("SELECT count(*) FROM run_sent")).scalar_one() == 0
    constrained = {
        table: [key["referred_table"] for key in inspect(app.store.engine).get_foreign_keys(table)]
        for table in ("sync_state", "run_sent")
    }
    assert constrained == {"sync_state": ["exports"], "run_sent": ["runs"]}
    upgrade(app.store.engine)
    assert inspect(app.store.engine).get_foreign_keys("sync_state") == []


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_several_processes_starting_at_once_on_an_empty_database_migrate_it_once(tmp_path: Path, dialect: str) -> None:
    # Several workers and schedulers started together on a new database: each opens the store and migrates;
    # they must take turns (the first does the work, the others find it done), never fail on a table another
    # is creating.
    from tests.support.app import postgresql_url, reset_postgresql

    url = None
    if dialect == "postgresql":
        url = postgresql_url()
        if url is None:
            pytest.skip("PostgreSQL store tests need SEGPORT_TEST_DATABASE_URL (bash .ci/run sets it)")
        reset_postgresql(url)
    settings = Settings(home=tmp_path, database_url=url)
    start = threading.Barrier(4)
    failures: list[BaseException] = []

    def open_together() -> None:
        start.wait()
        try:
            open_store(settings).close()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=open_together, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "the starts hung on each other's locks"
    assert failures == []
    store = open_store(settings)
    with store.engine.connect() as db:
        assert db.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == SCHEMA_REVISION
    store.close()


def test_bulk_rows_read_back_as_sqlalchemy_writes_them(app: App) -> None:
    """row_writer (binary COPY on PostgreSQL, the driver's executemany on SQLite) stores every profile type as
    SQLAlchemy's own INSERT does, edge values included."""
    from datetime import date, datetime
    from decimal import Decimal

    from sqlalchemy import insert

    from segport.profiles.source import Field, build_table
    from segport.store.bulk import bind_processors, row_writer

    kinds = ["text", "integer", "number", "boolean", "date", "datetime"]
    fields = [Field(f"c_{kind}", kind, kind) for kind in kinds]
    rows = [
        ("plain", 1, 1.5, True, date(2024, 2, 29), datetime(2024, 2, 29, 23, 59, 58, 123456)),
        ("", -(2**63), -0.0, False, date(1, 1, 1), datetime(1, 1, 1)),
        ("é 中 😀 'quote' \"double\" \\ tab\tnew\nline", 2**63 - 1, Decimal("12.25"), None, date(9999, 12, 31), None),
        (None, None, None, None, None, datetime(9999, 12, 31, 23, 59, 59, 999999)),
        ("1e5", 0, float("inf"), True, None, datetime(999, 1, 2, 3, 4, 5)),
    ]
    with app.store.begin() as db:
        tables = {name: build_table(f"bulk_{name}", fields) for name in ("sqlalchemy", "writer")}
        for table in tables.values():
            table.create(db)
        names = [field.name for field in fields]
        db.execute(insert(tables["sqlalchemy"]), [dict(zip(names, row, strict=True)) for row in rows])
        processors = bind_processors(db, tables["writer"])
        processed = [
            tuple(
                value if process is None or value is None else process(value)
                for value, process in zip(row, processors, strict=True)
            )
            for row in rows
        ]
        with row_writer(db, tables["writer"]) as write:
            write(processed)
    with app.store.read() as db:
        expected = db.execute(select(tables["sqlalchemy"]).order_by(tables["sqlalchemy"].c.c_datetime)).all()
        assert len(expected) == len(rows)
        assert db.execute(select(tables["writer"]).order_by(tables["writer"].c.c_datetime)).all() == expected
