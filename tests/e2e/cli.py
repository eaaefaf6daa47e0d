"""Running `segport` as a separate process, the way a person does, with settings in the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from segport.emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from segport.emulator.serve import free_port, wait_until_healthy


def environment(home: Path, base: str, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SEGPORT_")}
    env.update(
        SEGPORT_HOME=str(home),
        SEGPORT_CC_API_BASE=f"{base}/v3",
        SEGPORT_CC_AUTH_BASE=f"{base}/oauth2/default/v1",
        SEGPORT_CC_CLIENT_ID=DEFAULT_CLIENT_ID,
        SEGPORT_CC_CLIENT_SECRET=DEFAULT_CLIENT_SECRET,
        SEGPORT_USER="e2e",
        COLUMNS="200",
        **extra,
    )
    return env


def segport(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "segport", *args], env=env, capture_output=True, text=True, timeout=300
    )
    if check and done.returncode != 0:
        raise AssertionError(f"segport {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


@contextmanager
def emulator_process(*options: str) -> Iterator[str]:
    import signal

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "segport", "emulator", "--port", str(port), *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        if not wait_until_healthy(base, 20):
            process.kill()
            raise AssertionError(f"the emulator did not start: {process.communicate()[1]}")
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=10)
        except subprocess.TimeoutExpired:  # a request held open by a `timeout` fault keeps it waiting
            process.kill()
            process.communicate(timeout=10)


def prepared(env: dict[str, str], base: str, folder: Path, *, count: int, list_name: str) -> str:
    """What most CLI journeys start from, made with the CLI: `count` generated profiles, the segment
    "Everyone", the connection "CC" (signed in through the emulator) and a new list in its account (its id)."""
    import httpx

    profiles = folder / "profiles.csv"
    segport(env, "profiles", "generate", str(profiles), "--count", str(count))
    segport(env, "profiles", "import", str(profiles), "--key", "Customer ID")
    segport(env, "segments", "create", "Everyone", "customer_id is not empty")
    segport(env, "connections", "add", "constant-contact", "--name", "CC", "--i-agree", "--no-browser")
    return str(httpx.post(f"{base}/_emulator/lists", json={"name": list_name}).json()["list_id"])
