"""The main job with the profiles in a warehouse: DuckDB (embedded, a file) and PostgreSQL. The columns are read
with a zero-row SELECT (DuckDB's dialect cannot answer SQLAlchemy's inspector), the segment runs there, the
export delivers every valid member, and a rerun after one member's email changed in the warehouse sends that
one."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from segport.errors import WarehouseUnavailable
from segport.exports import launch
from segport.exports.normalize import normalize_email
from segport.profiles.generator import write_profiles
from segport.profiles.service import connect_external
from segport.profiles.source import load_source
from segport.runs.history import RunView, show_run
from segport.segments import membership
from segport.segments.service import create_segment
from tests.support.app import App, postgresql_url

COUNT = 200


def generated(tmp_path: Path) -> tuple[Path, list[dict[str, str]]]:
    path = tmp_path / "profiles.csv"
    write_profiles(path, COUNT, 11)
    with path.open(encoding="utf-8") as handle:
        return path, list(csv.DictReader(handle))


@pytest.fixture(params=["duckdb", "postgresql"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str, list[dict[str, str]]]:
    """(URL, table, the rows) of a warehouse holding the generated profiles in crm.customers."""
    path, rows = generated(tmp_path)
    if request.param == "duckdb":
        pytest.importorskip("duckdb_engine")
        url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
        engine = create_engine(url)
        with engine.begin() as db:  # DuckDB reads the CSV in place and guesses the types
            db.execute(text("CREATE SCHEMA crm"))
            db.execute(text(f"CREATE TABLE crm.customers AS SELECT * FROM read_csv_auto('{path}', header=true)"))  # noqa: S608
        engine.dispose()
    else:
        found = postgresql_url()
        if found is None:
            pytest.skip("the PostgreSQL warehouse needs SEGPORT_TEST_DATABASE_URL (bash .ci/run sets it)")
        url = found
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        columns = ", ".join(f'"{name}" text' for name in rows[0] if name != "Orders")
        with engine.begin() as db:
            db.execute(text("DROP SCHEMA IF EXISTS crm CASCADE"))
            db.execute(text("CREATE SCHEMA crm"))
            db.execute(text(f'CREATE TABLE crm.customers ({columns}, "Orders" integer)'))
            names = [name for name in rows[0] if name != "Orders"] + ["Orders"]
            quoted = ", ".join(f'"{name}"' for name in names)
            marks = ", ".join(f":p{index}" for index in range(len(names)))
            db.execute(
                text(f"INSERT INTO crm.customers ({quoted}) VALUES ({marks})"),  # noqa: S608 - the test's own names
                [{f"p{index}": row[name] or None for index, name in enumerate(names)} for row in rows],
            )
        engine.dispose()
    return url, "crm.customers", rows


Warehouse = tuple[str, str, list[dict[str, str]]]


def run(app: App) -> RunView:
    run_id = launch.run_export(app.store, app.settings, name="Warehouse", actor="t", http=app.http)
    return show_run(app.store, run_id=run_id)


def test_the_main_job_runs_on_profiles_in_a_warehouse(app: App, warehouse: Warehouse) -> None:
    url, table, rows = warehouse
    described = connect_external(app.store, url=url, table=table, key="Customer ID", actor="t")
    kinds = {field.name: field.type for field in described.fields}
    assert kinds["customer_id"] == "text" and kinds["orders"] == "integer" and described.row_count == COUNT
    create_segment(app.store, name="Repeat buyers", rule_text="orders >= 2", actor="t")
    buyers = [row for row in rows if int(row["Orders"]) >= 2]
    assert membership.count_segment(app.store, name="Repeat buyers") == len(buyers)  # counted in the warehouse

    app.connect("CC")
    export = app.add_export("Warehouse", "CC", ["Repeat buyers"])
    first = run(app)
    assert first.status == "Successful", first.message
    expected = {email for email, problem in (normalize_email(row["Email"]) for row in buyers) if problem is None}
    listed = set(app.emulator.members(export.list_id))
    assert listed == expected and first.counts["members"] == len(buyers)

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    changed = next(row for row in buyers if normalize_email(row["Email"])[1] is None)
    with engine.begin() as db:  # one buyer's email changes in the warehouse
        db.execute(
            text('UPDATE crm.customers SET "Email" = :email WHERE "Customer ID" = :key'),
            {"email": "moved.buyer@example.net", "key": changed["Customer ID"]},
        )
    engine.dispose()
    again = run(app)
    assert again.status == "Successful", again.message
    assert again.counts["sent"] == 1 and again.counts["unchanged"] == first.counts["sent"] - 1
    assert "moved.buyer@example.net" in app.emulator.members(export.list_id)


READ_ELSEWHERE = """
import sys
from sqlalchemy import text
from segport.store.database import create_store_engine
with create_store_engine(sys.argv[1]).connect() as db:
    print(db.execute(text("SELECT count(*) FROM " + sys.argv[2])).scalar_one())
"""


def test_a_duckdb_file_is_read_only_so_every_segport_process_can_open_it(app: App, warehouse: Warehouse) -> None:
    """DuckDB lets one process open a file for writing, or many read-only: the web UI and the workers each
    read the warehouse, so segport must never take the writing lock."""
    url, table, _ = warehouse
    if not url.startswith("duckdb"):
        pytest.skip("a PostgreSQL warehouse serves every process; only DuckDB locks its file per process")
    connect_external(app.store, url=url, table=table, key="Customer ID", actor="t")
    source = load_source(app.store)
    with source.engine.connect() as held:  # this process reads the warehouse (a run, a segment's count)
        assert held.execute(select(func.count()).select_from(source.table)).scalar_one() == COUNT
        # and with a memory limit of its own, so a large sort spills to disk rather than growing the process
        limit = held.execute(text("SELECT current_setting('memory_limit')")).scalar_one()
        assert limit == "244.1 MiB"  # 256 MB, as DuckDB shows it
        other = subprocess.run(  # another segport process opening it meanwhile
            [sys.executable, "-c", READ_ELSEWHERE, url, table], capture_output=True, text=True, timeout=120
        )
    assert other.returncode == 0, other.stderr
    assert other.stdout.strip() == str(COUNT)


WRITE_ELSEWHERE = """
import sys, time
import duckdb
held = duckdb.connect(sys.argv[1])  # for writing: DuckDB then lets no other process open the file
print("held", flush=True)
time.sleep(60)
"""


def test_a_duckdb_file_another_process_writes_is_named_with_that_as_the_cause(app: App, warehouse: Warehouse) -> None:
    url, table, _ = warehouse
    if not url.startswith("duckdb"):
        pytest.skip("only DuckDB locks its file per process")
    connect_external(app.store, url=url, table=table, key="Customer ID", actor="t")
    create_segment(app.store, name="All", rule_text="orders >= 0", actor="t")
    load_source(app.store).engine.dispose()
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITE_ELSEWHERE, url.removeprefix("duckdb:///")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "held"
        with pytest.raises(WarehouseUnavailable) as refused:
            membership.count_segment(app.store, name="All")
        assert "does not answer (IO Error: Could not set lock on file" in refused.value.message
        assert refused.value.hint.startswith("Another process holds it locked (a load writing it, say)")
    finally:
        writer.kill()
        writer.communicate()  # waits, and closes its pipe
    assert membership.count_segment(app.store, name="All") == COUNT  # written and closed: read again
