"""`segport serve` under load: 20 concurrent clients on a store with 1,000 runs, each asking for the runs list
(API), the exports list (API), a run's page and the runs page, beside `/healthz` (the floor: the same server's
cheapest answer, measured the same way in the same run): `python bench/api_load.py [--clients 20]
[--rows-not-sent N] [--store postgresql]` (N rows not sent for each of the 50 newest runs, as a daily export of a
million members keeps about 60,000; none by default. PostgreSQL: a database made for the run and dropped after).

Prints one line per path (p50, p99 in ms, and each as a ratio of /healthz's; the server's CPU time per request,
steadier than the latencies on a loaded machine), then one JSON object: value_s
(the slowest path's p50), floor_s (/healthz's p50), ratio, and every path's figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert, select, update

from common import connected_store, emulator_process, scratch_postgresql
from segport.emulator.serve import free_port, wait_until_healthy
from segport.exports import service as exports
from segport.profiles.generator import write_profiles
from segport.profiles.importer import import_profiles
from segport.segments.service import create_segment
from segport.store import Store
from segport.store.tables import run_rows, runs
from segport.users import service as users

PASSWORD = "a long bench passphrase 1"  # noqa: S105 - a throwaway store's user
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def prepare(
    base: str, home: Path, run_count: int, rows_not_sent: int, database_url: str | None = None
) -> tuple[int, str]:
    """A store (SQLite in `home`, or the PostgreSQL database of `database_url`) with profiles, a segment, an
    export and `run_count` recorded runs, the newest 50 with `rows_not_sent` rows each; (a run id, an API token)."""
    settings, store = connected_store(base, home, database_url)
    write_profiles(home / "profiles.csv", 200, 3)
    import_profiles(store, home / "profiles.csv", key="Customer ID", actor="bench")
    create_segment(store, name="Everyone", rule_text="customer_id is not empty", actor="bench")
    list_id = httpx.post(f"{base}/_emulator/lists", json={"name": "Load"}).json()["list_id"]
    export = exports.add_export(
        store, settings, name="Load", connection="CC", list_id=list_id, email_field="email",
        segment_names=["Everyone"], actor="bench",
    )  # fmt: skip
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with store.begin() as db:
        db.execute(
            insert(runs),
            [
                {
                    "export_id": export.id,
                    "status": "Successful" if number % 10 else "Failure",
                    "trigger": "schedule",
                    "triggered_by": "scheduler",
                    "created_at": start + timedelta(minutes=number),
                    "started_at": start + timedelta(minutes=number),
                    "finished_at": start + timedelta(minutes=number, seconds=42),
                    "members": 200,
                    "sent": 190,
                }
                for number in range(run_count)
            ],
        )
    if rows_not_sent:
        add_rows_not_sent(store, rows_not_sent)
    users.add_user(store, name="bench", role="admin", actor="bench", password=PASSWORD)
    token = users.issue_token(store, name="bench", label="load", actor="bench")[1]
    store.close()
    return run_count // 2, token


def add_rows_not_sent(store: Store, per_run: int) -> None:
    with store.begin() as db:
        newest = db.execute(select(runs.c.id).order_by(runs.c.id.desc()).limit(50)).scalars().all()
        for run_id in newest:
            db.execute(
                insert(run_rows),
                [
                    {"run_id": run_id, "profile_key": f"k{number}", "email": f"bad {number}@example",
                     "reason": "invalid_email", "detail": "not a valid email address"}
                    for number in range(per_run)
                ],
            )  # fmt: skip
            if "rows_not_sent" in runs.c:  # kept on the run since 0014; counted per request before
                db.execute(update(runs).where(runs.c.id == run_id).values(rows_not_sent=per_run))


def load(url: str, clients: int, per_client: int, headers: dict[str, str], cookies: dict[str, str]) -> list[float]:
    """Seconds of each request, `clients` threads asking `per_client` times each, all at once."""
    timings: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(clients)

    def client() -> None:
        with httpx.Client(headers=headers, cookies=cookies, timeout=60) as session:
            session.get(url)  # the connection is open before the clock starts
            start.wait()
            mine = []
            for _ in range(per_client):
                begun = time.perf_counter()
                answer = session.get(url)
                mine.append(time.perf_counter() - begun)
                if answer.status_code != 200:
                    raise SystemExit(f"{url} answered {answer.status_code}: {answer.text[:200]}")
            with lock:
                timings.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return timings


def cpu_seconds(pid: int) -> float:
    """The process's CPU time so far (user + system), from /proc (Linux); 0.0 where there is none."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=25, help="per client and path")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--rows-not-sent", type=int, default=0, help="per run, for the 50 newest runs")
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--admin-url", default=ADMIN_URL, help="the PostgreSQL server for --store postgresql")
    options = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="segport-bench-") as directory,
        emulator_process() as base,
        scratch_postgresql(options.admin_url, enabled=options.store == "postgresql") as database_url,
    ):
        home = Path(directory)
        run_id, token = prepare(base, home, options.runs, options.rows_not_sent, database_url)
        port = free_port()
        env = {key: value for key, value in os.environ.items() if not key.startswith("SEGPORT_")}
        env.update(SEGPORT_HOME=str(home), SEGPORT_API_PUBLIC_URL=f"http://127.0.0.1:{port}")
        if database_url:
            env["SEGPORT_DATABASE_URL"] = database_url
        server = subprocess.Popen(
            [sys.executable, "-m", "segport", "serve", "--workers", "0", "--no-scheduler", "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        served = f"http://127.0.0.1:{port}"
        try:
            if not wait_until_healthy(served, 30, path="/healthz"):
                raise SystemExit("segport serve did not start")
            signed = httpx.post(f"{served}/sign-in", data={"name": "bench", "password": PASSWORD, "next": "/runs"})
            cookies = dict(signed.cookies)
            api = {"Authorization": f"Bearer {token}"}
            paths = {
                "/healthz": ({}, {}),
                "/api/runs": (api, {}),
                "/api/exports": (api, {}),
                f"/runs/{run_id}": ({}, cookies),
                "/runs": ({}, cookies),
            }
            figures = {}
            for path, (headers, jar) in paths.items():
                used = cpu_seconds(server.pid)
                timings = load(served + path, options.clients, options.requests, headers, jar)
                used = cpu_seconds(server.pid) - used  # includes the warm-up request of each client
                figures[path] = {
                    "p50_s": round(statistics.median(timings), 5),
                    "p99_s": round(percentile(timings, 0.99), 5),
                    "requests": len(timings),
                    "server_cpu_ms": round(1000 * used / (len(timings) + options.clients), 2),
                }
        finally:
            server.terminate()
            server.wait(timeout=30)
    floor = figures["/healthz"]["p50_s"]
    floor99 = figures["/healthz"]["p99_s"]
    for path, item in figures.items():
        item["p50_ratio"] = round(item["p50_s"] / floor, 1)
        item["p99_ratio"] = round(item["p99_s"] / floor99, 1)
        print(
            f"{path:22} p50 {item['p50_s'] * 1000:7.1f} ms ({item['p50_ratio']}x)   "
            f"p99 {item['p99_s'] * 1000:7.1f} ms ({item['p99_ratio']}x)   "
            f"server CPU {item['server_cpu_ms']:5.2f} ms a request",
            flush=True,
        )
    slowest = max(item["p50_s"] for item in figures.values())
    print(json.dumps({"value_s": slowest, "floor_s": floor, "ratio": round(slowest / floor, 1), "paths": figures}))


if __name__ == "__main__":
    main()
