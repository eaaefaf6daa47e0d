"""`exports run NAME --dry-run --show-rows` on many members: how soon the first row comes, how long all take,
and the process's peak memory: `python bench/dry_run_rows.py [--profiles 120000]`.

Before the rows were streamed, 119,000 members printed nothing for 3 minutes and the process grew to 305 MB
(a rich table held every row). Prints the segport output's last line, then one JSON object: profiles, rows,
first_row_s, value_s (every row), peak_rss_mb.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from common import connected_store, emulator_process
from segport.exports import service as exports
from segport.profiles.generator import write_profiles
from segport.profiles.importer import import_profiles
from segport.segments.service import create_segment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=120_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="segport-bench-") as directory, emulator_process() as base:
        work = Path(directory)
        settings, store = connected_store(base, work / "home")
        write_profiles(work / "profiles.csv", args.profiles, seed=5)
        import_profiles(store, work / "profiles.csv", key="Customer ID", actor="bench")
        list_id = httpx.post(f"{base}/_emulator/lists", json={"name": "Rows"}).json()["list_id"]
        create_segment(store, name="Everyone", rule_text="customer_id is not empty", actor="bench")
        exports.add_export(
            store,
            settings,
            name="Rows",
            connection="CC",
            list_id=list_id,
            email_field="email",
            first_name_field="first_name",
            segment_names=["Everyone"],
            actor="bench",
        )
        store.close()
        env = {key: value for key, value in os.environ.items() if not key.startswith("SEGPORT_")}
        env.update(SEGPORT_HOME=str(settings.home), SEGPORT_USER="bench", PYTHONUNBUFFERED="1")
        command = [sys.executable, "-m", "segport", "exports", "run", "Rows", "--dry-run", "--show-rows"]
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None
        process.stdout.readline()  # the header, printed before the dry run starts
        first = process.stdout.readline()
        first_row_s = time.perf_counter() - started
        rows = 1 if first.startswith(("add\t", "skip\t", "update\t")) else 0
        last = ""
        for line in process.stdout:
            rows += line.startswith(("add\t", "skip\t", "update\t"))
            last = line.strip() or last
        _, status, usage = os.wait4(process.pid, 0)
        total_s = time.perf_counter() - started
        if status != 0:
            raise SystemExit(f"the dry run failed with status {status}")
    print(last)
    result = {
        "profiles": args.profiles,
        "rows": rows,
        "first_row_s": round(first_row_s, 2),
        "value_s": round(total_s, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
