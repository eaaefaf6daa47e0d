"""Import 1,000,000 generated profiles, then re-import them with 1 % changed (the changed keys recorded).

Run: python bench/import_1m.py [--profiles N] [--store sqlite|postgresql] [--admin-url URL]
Each import is `segport profiles import` in a process of its own (so its peak RSS is its own). The floor is the
database's own shell loading the same file in the same run: `sqlite3 .import` into a new table on SQLite,
`psql \\copy` into a table of the same columns on PostgreSQL. The PostgreSQL store is a database created for the
run (and dropped after) on the server of --admin-url.
The LAST line printed is one JSON object: value_s (the first import), floor_s, ratio, reimport_s,
reimport_ratio (the re-import against the same floor), peak_rss_mb and more.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import orjson

from common import run_segport_process, scratch_postgresql
from incremental_1m import change_one_percent
from segport.profiles.generator import write_profiles


def sqlite_floor(csv_path: Path, work: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["sqlite3", str(work / "floor.db"), ".mode csv", f".import {csv_path} profiles"], check=True)
    return time.perf_counter() - started


def postgresql_floor(csv_path: Path, url: str) -> float:
    with csv_path.open(encoding="utf-8") as handle:
        header = next(handle).strip().split(",")
    columns = ", ".join(f'"{name}" text' for name in header)
    subprocess.run(["psql", "-q", url, "-c", f"CREATE TABLE floor ({columns})"], check=True)
    started = time.perf_counter()
    copy = f"\\copy floor FROM '{csv_path}' WITH (FORMAT csv, HEADER true)"
    subprocess.run(["psql", "-q", url, "-c", copy], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    needed = "sqlite3" if args.store == "sqlite" else "psql"
    if shutil.which(needed) is None:
        raise SystemExit(f"the floor needs the {needed} shell")
    work = Path(tempfile.mkdtemp(prefix="segport-bench-"))
    try:
        write_profiles(work / "profiles.csv", args.profiles, seed=11)
        left, renamed = change_one_percent(work / "profiles.csv", work / "changed.csv")
        with scratch_postgresql(args.admin_url, enabled=args.store == "postgresql") as url:
            environment = {"SEGPORT_HOME": str(work / "home"), "SEGPORT_USER": "bench"}
            if url:
                environment["SEGPORT_DATABASE_URL"] = url
            arguments = ["profiles", "import", "--key", "Customer ID"]
            first = run_segport_process(environment, *arguments, str(work / "profiles.csv"))
            again = run_segport_process(environment, *arguments, str(work / "changed.csv"))
            if url:
                floor_s = postgresql_floor(work / "profiles.csv", url.replace("postgresql+psycopg", "postgresql"))
            else:
                floor_s = sqlite_floor(work / "profiles.csv", work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "store": args.store,
        "profiles": args.profiles,
        "value_s": round(first.wall_s, 2),
        "floor_s": round(floor_s, 2),
        "ratio": round(first.wall_s / floor_s, 1),
        "reimport_s": round(again.wall_s, 2),
        "reimport_ratio": round(again.wall_s / floor_s, 1),
        "changed_profiles": left + renamed,
        "peak_rss_mb": round(max(first.peak_rss_mb, again.peak_rss_mb), 1),
        "floor": "sqlite3 .import" if args.store == "sqlite" else "psql \\copy",
    }
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
