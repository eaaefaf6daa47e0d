"""10,000,000 profiles exported from a warehouse table (segments evaluated there), beside 1,000,000 of the same.

Run: python bench/warehouse_10m.py [--profiles N] [--warehouse duckdb|postgresql ...] [--admin-url URL]
For each warehouse (DuckDB and PostgreSQL by default) the profiles sit in a table segport connects to; the
export limit is raised to N. The same export runs on N/10 and on N profiles (the first N/10 rows of the same
generated file); each run beside its floor, the warehouse writing the same query's rows to CSV itself.
Time must grow linearly (N run / N/10 run <= 11) and memory stay flat (peak RSS <= 1.3x).
The LAST line printed is one JSON object: per warehouse value_s (the N run), floor_s, ratio, time_growth,
rss_growth and both runs' figures; at the top level the worst of each.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Any

import orjson

from export_1m import ADMIN_URL, measure
from segport.profiles.generator import write_profiles

KEPT = (
    "value_s", "floor_s", "ratio", "peak_rss_mb", "import_requests", "list_members", "floor_rows",
    "lease_longest_renewal_wait_s", "responses_429",
)  # fmt: skip


def first_rows(source: Path, target: Path, rows: int) -> None:
    with source.open(encoding="utf-8") as reading, target.open("w", encoding="utf-8") as writing:
        for number, line in enumerate(reading):
            if number > rows:  # the header, then the rows
                break
            writing.write(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profiles", type=int, default=10_000_000)
    parser.add_argument("--warehouse", choices=["duckdb", "postgresql"], action="append")
    parser.add_argument("--admin-url", default=ADMIN_URL)
    args = parser.parse_args()
    warehouses = args.warehouse or ["duckdb", "postgresql"]
    work = Path(tempfile.mkdtemp(prefix="segport-bench-"))
    try:
        large = work / "large.csv"
        write_profiles(large, args.profiles, seed=11)
        small = work / "small.csv"
        first_rows(large, small, args.profiles // 10)
        results: dict[str, Any] = {}
        for warehouse in warehouses:
            source = "duckdb" if warehouse == "duckdb" else "external"
            runs = []
            for path, count in ((small, args.profiles // 10), (large, args.profiles)):
                figures = measure(count, source=source, admin_url=args.admin_url, csv_path=path)
                print(orjson.dumps(figures).decode(), flush=True)
                runs.append({key: figures[key] for key in KEPT})
            results[warehouse] = {
                **{key: runs[1][key] for key in ("value_s", "floor_s", "ratio")},
                "time_growth": round(runs[1]["value_s"] / runs[0]["value_s"], 2),
                "rss_growth": round(runs[1]["peak_rss_mb"] / runs[0]["peak_rss_mb"], 2),
                "small": runs[0],
                "large": runs[1],
            }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    worst = max(results.values(), key=lambda figures: figures["ratio"])
    summary = {
        "profiles": args.profiles,
        "value_s": worst["value_s"],
        "floor_s": worst["floor_s"],
        "ratio": worst["ratio"],
        "time_growth": max(figures["time_growth"] for figures in results.values()),
        "rss_growth": max(figures["rss_growth"] for figures in results.values()),
        "warehouses": results,
    }
    print(orjson.dumps(summary).decode())


if __name__ == "__main__":
    main()
