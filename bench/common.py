"""What the export benchmarks share: an emulator in its own process, a store with a connection, a timed run."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from segport.config import Settings
from segport.connections import service as connections
from segport.connections.sign_in import sign_in_with
from segport.emulator.serve import free_port, settings_for_emulator, wait_until_healthy
from segport.store import Store, open_store

EMULATOR_PIDS: dict[str, int] = {}  # base URL -> process id, for emulator_cpu_seconds


def emulator_cpu_seconds(base: str) -> float:
    """CPU time the emulator at `base` has used so far: on a 2-core machine it competes with segport itself
    (Constant Contact's own servers would not), so the benchmarks print it beside the run's time."""
    fields = Path(f"/proc/{EMULATOR_PIDS[base]}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def emulator_process() -> Iterator[str]:
    """`segport emulator` on a free port, with Constant Contact's rate limits; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "segport", "emulator", "--port", str(port)], stdout=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    EMULATOR_PIDS[base] = process.pid
    try:
        if not wait_until_healthy(base):
            raise SystemExit("the emulator did not start within 30 s")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def connected_store(base: str, home: Path, database_url: str | None = None, **overrides: Any) -> tuple[Settings, Store]:
    settings = settings_for_emulator(base, home=home, user="bench", database_url=database_url, **overrides)
    store = open_store(settings)
    connections.add_connection(
        store,
        settings,
        name="CC",
        allow_contributors=False,
        agreed=True,
        actor="bench",
        sign_in=sign_in_with(settings, announce=print, open_browser=False),
    )
    return settings, store


@dataclass
class TimedRun:
    wall_s: float
    peak_rss_mb: float
    output: str


def run_export_process(settings: Settings, name: str, *options: str) -> TimedRun:
    """`segport exports run NAME` as its own process (so its peak RSS is its own), timed."""
    # The setup's own requests (sign-in, list checks) came from this process with its own rate budget; let them
    # leave the emulator's one-second window so the measured run does not pay for them with a 429.
    time.sleep(1.1)
    environment = {
        "SEGPORT_HOME": str(settings.home),
        "SEGPORT_USER": "bench",
        "SEGPORT_EXPORT_LIMIT": str(settings.export_limit),
    }
    if settings.database_url:
        environment["SEGPORT_DATABASE_URL"] = settings.database_url
    return run_segport_process(environment, "exports", "run", name, *options)


def run_segport_process(environment: dict[str, str], *arguments: str) -> TimedRun:
    """`segport ARGUMENTS` as its own process with these SEGPORT_ settings only, timed; exits if it fails."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SEGPORT_")}
    env.update(environment)
    started = time.perf_counter()
    command = [sys.executable, "-m", "segport", *arguments]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    output = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    wall_s = time.perf_counter() - started
    print(output, flush=True)
    if status != 0:
        raise SystemExit(f"segport {' '.join(arguments[:2])} failed with status {status}")
    return TimedRun(wall_s, usage.ru_maxrss / 1024, output)


_SCRATCH_NUMBERS = itertools.count(1)


@contextmanager
def scratch_postgresql(admin_url: str, *, enabled: bool = True) -> Iterator[str | None]:
    """A new PostgreSQL database on the server of `admin_url` for one benchmark, dropped after; None if not enabled."""
    if not enabled:
        yield None
        return
    name = f"segport_bench_{os.getpid()}_{next(_SCRATCH_NUMBERS)}"
    subprocess.run(["psql", "-q", admin_url, "-c", f"CREATE DATABASE {name}"], check=True)
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        subprocess.run(["psql", "-q", admin_url, "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=True)


def requests_since(base: str, after: int) -> list[dict[str, Any]]:
    """The emulator's V3 requests numbered after `after`."""
    log = httpx.get(f"{base}/_emulator/requests", params={"limit": 20_000}).json()["requests"]
    return [entry for entry in log if entry["number"] > after and entry["path"].startswith("/v3/")]


def last_request_number(base: str) -> int:
    log = httpx.get(f"{base}/_emulator/requests", params={"limit": 1}).json()["requests"]
    return int(log[-1]["number"]) if log else 0
