"""A full export of 1,000,000 generated profiles to the emulator running as a separate process.

Run: python bench/export_1m.py [--profiles N]
Steps: generate N profiles with the seeded generator, import them, connect, define a segment matching all of
them, then time `segport exports run` (a separate process, so its peak RSS is its own). In the same run, the
sqlite3 shell writes the same rows (email, first name, last name) of the same query to a CSV file: the floor.
The LAST line printed is one JSON object: wall_s, floor_s, peak_rss_mb, import_requests, members and more.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import orjson

from common import connected_store, emulator_process, last_request_number, requests_since, run_export_process
from segport.exports import service as exports
from segport.profiles.generator import write_profiles
from segport.profiles.importer import import_profiles
from segport.segments.service import create_segment

FLOOR_QUERY = (
    "SELECT email, first_name, last_name FROM profiles WHERE customer_id IS NOT NULL AND customer_id != '' "
    "ORDER BY lower(trim(email)), customer_id"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profiles", type=int, default=1_000_000)
    args = parser.parse_args()
    if shutil.which("sqlite3") is None:
        raise SystemExit("the floor needs the sqlite3 shell (Debian package sqlite3)")
    work = Path(tempfile.mkdtemp(prefix="segport-bench-"))
    with emulator_process() as base:
        settings, store = connected_store(base, work / "home")
        started = time.perf_counter()
        write_profiles(work / "profiles.csv", args.profiles, seed=11)
        generate_s = time.perf_counter() - started
        started = time.perf_counter()
        import_profiles(store, work / "profiles.csv", key="Customer ID", actor="bench")
        import_s = time.perf_counter() - started
        import_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"generated {args.profiles:,} profiles in {generate_s:.1f} s, imported in {import_s:.1f} s", flush=True)
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
        store.close()
        before = last_request_number(base)
        run = run_export_process(settings, "Bench")
        started = time.perf_counter()
        subprocess.run(
            ["sqlite3", str(settings.home / "segport.db"), ".mode csv", f".once {work / 'floor.csv'}", FLOOR_QUERY],
            check=True,
        )
        floor_s = time.perf_counter() - started
        requests = requests_since(base, before)
        members = len(httpx.get(f"{base}/_emulator/lists/{list_id}/members").json()["members"])
    by_endpoint: dict[str, int] = {}
    for entry in requests:
        by_endpoint[entry["operation"]] = by_endpoint.get(entry["operation"], 0) + 1
    floor_rows = sum(1 for _ in (work / "floor.csv").open(encoding="utf-8"))
    result = {
        "profiles": args.profiles,
        "wall_s": round(run.wall_s, 2),
        "floor_s": round(floor_s, 2),
        "wall_over_floor": round(run.wall_s / floor_s, 1),
        "peak_rss_mb": round(run.peak_rss_mb, 1),
        "import_requests": by_endpoint.get("bulkImportContactsJSON", 0),
        "requests_by_endpoint": by_endpoint,
        "responses_429": sum(1 for entry in requests if entry["status"] == 429),
        "members": args.profiles,
        "list_members": members,
        "floor_rows": floor_rows,
        "import_s": round(import_s, 1),
        "generate_and_import_peak_rss_mb": round(import_rss_mb, 1),
    }
    shutil.rmtree(work, ignore_errors=True)
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
