"""A full export of 1,000,000 generated profiles to the emulator running as a separate process.

Run: python bench/export_1m.py [--profiles N] [--store sqlite|postgresql] [--source embedded|external|duckdb]
Steps: generate N profiles with the seeded generator, load them (imported into the store, or copied into a
table that segport connects to: of another PostgreSQL database with --source external, of a DuckDB file with
--source duckdb), connect, define a segment matching all of them, then time `segport exports run` (a separate
process, so its peak RSS is its own). In the same run the database's own shell writes the same rows (email,
first name, last name) of the same query to a CSV file: the floor (`sqlite3`; `psql \\copy` where the profiles
are in PostgreSQL; DuckDB's own COPY). PostgreSQL databases are created for the run on the server of
--admin-url and dropped after.
The LAST line printed is one JSON object: value_s (the run), floor_s, ratio, peak_rss_mb, import_requests,
the lease's longest wait for a write and longest gap between renewals, and more.
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import func, select

from common import (
    connected_store,
    emulator_cpu_seconds,
    emulator_process,
    last_request_number,
    requests_since,
    run_export_process,
    scratch_postgresql,
)
from segport.exports import service as exports
from segport.profiles.generator import write_profiles
from segport.profiles.importer import import_profiles
from segport.profiles.service import connect_external
from segport.segments.service import create_segment
from segport.store import Store
from segport.store.tables import run_events, runs

FLOOR_QUERY = (
    "SELECT email, first_name, last_name FROM {table} WHERE customer_id IS NOT NULL AND customer_id != '' "
    "ORDER BY lower(trim(email)), customer_id"
)
# The generated file's columns, typed as a warehouse would hold them.
EXTERNAL_COLUMNS = (
    "customer_id text, email text, first_name text, last_name text, country text, province text, city text, "
    "lifetime_value double precision, orders bigint, last_order_date date, vip boolean, signed_up_at timestamp"
)
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
LEASE = re.compile(
    r"the longest wait for one was ([0-9.]+) s, the longest time between two ([0-9.]+) s\. Renewed on its own "
    r"([0-9,]+) times?, the longest renewal waiting ([0-9.]+) s"
)
SENDING = re.compile(r"sent [\d,]+ batch(?:es)? in ([\d.]+) s\.")
ACKNOWLEDGING = re.compile(r"Activities finished and acknowledged in ([\d.]+) s\.")


def load_external(csv_path: Path, url: str) -> None:
    """The profiles as a table of another PostgreSQL database (psql \\copy: the loading is not measured)."""
    subprocess.run(["psql", "-q", url, "-c", f"CREATE TABLE profiles_external ({EXTERNAL_COLUMNS})"], check=True)
    copy = f"\\copy profiles_external FROM '{csv_path}' WITH (FORMAT csv, HEADER true)"
    subprocess.run(["psql", "-q", url, "-c", copy, "-c", "ANALYZE profiles_external"], check=True)


def floor_seconds(database: str, target: Path, *, sqlite_file: Path | None, table: str) -> float:
    """The database's own shell writing the same query's rows to CSV."""
    query = FLOOR_QUERY.format(table=table)
    started = time.perf_counter()
    if sqlite_file is not None:
        subprocess.run(["sqlite3", str(sqlite_file), ".mode csv", f".once {target}", query], check=True)
    else:
        subprocess.run(["psql", "-q", database, "-c", f"\\copy ({query}) TO '{target}' WITH (FORMAT csv)"], check=True)
    return time.perf_counter() - started


def run_figures(store: Store) -> dict[str, float]:
    """What the run recorded of its phases and its lease: the time spent reading and sending, and the time the
    acknowledgement took after it; the longest wait for a (renewing) write, the longest gap between two, the
    renewals that wrote nothing else (a quiet run's heartbeat) and the longest wait of one of those."""
    figures: dict[str, float] = {}
    with store.read() as db:
        last = select(func.max(runs.c.id)).scalar_subquery()
        for message in db.execute(select(run_events.c.message).where(run_events.c.run_id == last)).scalars():
            if found := LEASE.search(message):
                figures["lease_longest_write_wait_s"] = float(found.group(1))
                figures["lease_longest_gap_s"] = float(found.group(2))
                figures["lease_renewals"] = int(found.group(3).replace(",", ""))
                figures["lease_longest_renewal_wait_s"] = float(found.group(4))
            elif found := SENDING.search(message):
                figures["sending_s"] = float(found.group(1))
            elif found := ACKNOWLEDGING.search(message):
                figures["acknowledging_s"] = float(found.group(1))
    if "lease_longest_write_wait_s" not in figures:
        raise SystemExit("the run recorded no lease figures")
    return figures


def load_duckdb(csv_path: Path, path: Path) -> str:
    """The profiles as a table of a DuckDB file (read in place from the CSV; the loading is not measured)."""
    import duckdb

    with duckdb.connect(str(path)) as database:
        columns = "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in _columns()) + "}"
        reading = f"read_csv('{csv_path}', header=true, columns={columns})"
        database.execute(f"CREATE TABLE profiles_external AS SELECT * FROM {reading}")  # noqa: S608 - our own names
    return f"duckdb:///{path}"


def _columns() -> list[tuple[str, str]]:
    return [tuple(column.split(" ", 1)) for column in EXTERNAL_COLUMNS.split(", ")]  # type: ignore[misc]


def duckdb_floor(path: Path, target: Path, table: str) -> float:
    """DuckDB's own COPY of the same query, in a process of its own: this one holds the file through segport's
    engine, and DuckDB refuses a second connection of another configuration in one process."""
    script = (
        "import sys, time, duckdb\n"
        "database = duckdb.connect(sys.argv[1], read_only=True)\n"
        "database.execute('SET enable_progress_bar = false')\n"
        "started = time.perf_counter()\n"
        "database.execute(sys.argv[2])\n"
        "print(time.perf_counter() - started)\n"
    )
    copy = f"COPY ({FLOOR_QUERY.format(table=table)}) TO '{target}' (FORMAT csv)"
    done = subprocess.run([sys.executable, "-c", script, str(path), copy], check=True, capture_output=True, text=True)
    return float(done.stdout.strip().splitlines()[-1])


def measure(
    profiles: int,
    *,
    store_kind: str = "sqlite",
    source: str = "embedded",
    admin_url: str = ADMIN_URL,
    csv_path: Path | None = None,
) -> dict[str, Any]:
    """One full export of `profiles` generated profiles, beside its floor; the figures as a dict."""
    on_sqlite = store_kind == "sqlite" and source == "embedded"
    shell = "sqlite3" if on_sqlite else "python (duckdb)" if source == "duckdb" else "psql"
    if shell != "python (duckdb)" and shutil.which(shell) is None:
        raise SystemExit(f"the floor needs the {shell} shell")
    work = Path(tempfile.mkdtemp(prefix="segport-bench-"))
    with ExitStack() as stack:
        store_url = stack.enter_context(scratch_postgresql(admin_url, enabled=store_kind == "postgresql"))
        external_url = stack.enter_context(scratch_postgresql(admin_url, enabled=source == "external"))
        base = stack.enter_context(emulator_process())
        settings, store = connected_store(base, work / "home", database_url=store_url, export_limit=max(profiles, 1))
        started = time.perf_counter()
        if csv_path is None:
            csv_path = work / "profiles.csv"
            write_profiles(csv_path, profiles, seed=11)
        generate_s = time.perf_counter() - started
        started = time.perf_counter()
        if source == "duckdb":
            url = load_duckdb(csv_path, work / "warehouse.duckdb")
            connect_external(store, url=url, table="profiles_external", key="customer_id", actor="bench")
        elif external_url:
            load_external(csv_path, external_url)
            connect_external(store, url=external_url, table="profiles_external", key="customer_id", actor="bench")
        else:
            import_profiles(store, csv_path, key="Customer ID", actor="bench")
        import_s = time.perf_counter() - started
        import_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"generated {profiles:,} profiles in {generate_s:.1f} s, loaded in {import_s:.1f} s", flush=True)
        list_id = httpx.post(f"{base}/_emulator/lists", json={"name": "Benchmark"}).json()["list_id"]
        create_segment(store, name="Everyone", rule_text="customer_id is not empty", actor="bench")
        exports.add_export(
            store,
            settings,
            name="Bench",
            connection="CC",
            list_id=list_id,
            email_field="email",
            first_name_field="first_name",
            last_name_field="last_name",
            segment_names=["Everyone"],
            actor="bench",
        )
        before = last_request_number(base)
        emulator_before = emulator_cpu_seconds(base)
        run = run_export_process(settings, "Bench")
        emulator_s = emulator_cpu_seconds(base) - emulator_before
        table = "profiles" if source == "embedded" else "profiles_external"
        if source == "duckdb":
            floor_s = duckdb_floor(work / "warehouse.duckdb", work / "floor.csv", table)
        else:
            floor_s = floor_seconds(
                external_url or store_url or "",
                work / "floor.csv",
                sqlite_file=settings.home / "segport.db" if on_sqlite else None,
                table=table,
            )
        requests = requests_since(base, before)
        members = httpx.get(f"{base}/_emulator/lists").json()
        list_members = next(item["members"] for item in members["lists"] if item["list_id"] == list_id)
        lease = run_figures(store)
        store.close()
    by_endpoint: dict[str, int] = {}
    for entry in requests:
        by_endpoint[entry["operation"]] = by_endpoint.get(entry["operation"], 0) + 1
    with (work / "floor.csv").open(encoding="utf-8") as floor_file:
        floor_rows = sum(1 for _ in floor_file)
    shutil.rmtree(work, ignore_errors=True)
    return {
        "store": store_kind,
        "source": source,
        "profiles": profiles,
        "value_s": round(run.wall_s, 2),
        "floor_s": round(floor_s, 2),
        "ratio": round(run.wall_s / floor_s, 1),
        "floor": {"sqlite3": "sqlite3 .once (CSV)", "psql": "psql \\copy (CSV)"}.get(shell, "DuckDB COPY (CSV)"),
        "wall_s": round(run.wall_s, 2),
        "wall_over_floor": round(run.wall_s / floor_s, 1),
        "peak_rss_mb": round(run.peak_rss_mb, 1),
        "emulator_cpu_s": round(emulator_s, 1),
        "import_requests": by_endpoint.get("bulkImportContactsJSON", 0),
        "requests_by_endpoint": by_endpoint,
        "responses_429": sum(1 for entry in requests if entry["status"] == 429),
        "members": profiles,
        "list_members": list_members,
        "floor_rows": floor_rows,
        **lease,
        "import_s": round(import_s, 1),
        "generate_and_import_peak_rss_mb": round(import_rss_mb, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--source", choices=["embedded", "external", "duckdb"], default="embedded")
    parser.add_argument("--admin-url", default=ADMIN_URL)
    args = parser.parse_args()
    result = measure(args.profiles, store_kind=args.store, source=args.source, admin_url=args.admin_url)
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
