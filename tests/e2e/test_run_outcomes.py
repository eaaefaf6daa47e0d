"""How `segport exports run` ends, as a script sees it: a distinct exit code for each outcome, and database
trouble as one clear line, never a traceback, with the run resumable afterwards."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.e2e.cli import emulator_process, environment, segport


def set_up(env: dict[str, str], base: str, directory: Path, count: int = 400) -> str:
    profiles = directory / "profiles.csv"
    segport(env, "profiles", "generate", str(profiles), "--count", str(count))
    segport(env, "profiles", "import", str(profiles), "--key", "Customer ID")
    segport(env, "segments", "create", "Everyone", "customer_id is not empty")
    segport(env, "connections", "add", "constant-contact", "--name", "CC", "--i-agree", "--no-browser")
    list_id = str(httpx.post(f"{base}/_emulator/lists", json={"name": "Outcomes"}).json()["list_id"])
    segport(
        env,
        *("exports", "add", "--name", "E", "--connection", "CC", "--list-id", list_id),
        *("--email-field", "email", "--segment", "Everyone"),
    )
    return list_id


def test_each_outcome_has_its_own_exit_code(tmp_path: Path) -> None:
    with emulator_process() as base:
        env = environment(tmp_path / "home", base, SEGPORT_BATCH_MAX_CONTACTS="100")
        set_up(env, base, tmp_path)
        httpx.post(f"{base}/_emulator/faults", json={"faults": ["imports#1=400"]})
        failed = segport(env, "exports", "run", "E", check=False)
        assert failed.returncode == 3 and "Failure" in failed.stdout, failed.stdout + failed.stderr

        httpx.post(f"{base}/_emulator/faults", json={"faults": ["imports#2=quota"]})
        parked = segport(env, "exports", "run", "E", check=False)
        assert parked.returncode == 6, parked.stdout + parked.stderr
        assert "waiting (quota)" in parked.stdout and "quota resets at" in parked.stdout
        again = segport(env, "exports", "run", "E", check=False)  # joins the parked run; does not wait hours
        assert again.returncode == 6 and "Run 2 of 'E': waiting" in again.stdout
        shown = segport(env, "runs", "show", "2").stdout
        assert "waiting (quota)" in shown
        segport(env, "runs", "cancel", "2")

        done = segport(env, "exports", "run", "E", check=False)
        assert done.returncode == 0 and "Successful" in done.stdout, done.stdout + done.stderr
        segport(env, "segments", "deactivate", "Everyone")
        skipped = segport(env, "exports", "run", "E", check=False)
        assert skipped.returncode == 4 and "Skipped" in skipped.stdout
        for outcome in (failed, parked, done, skipped):
            assert "Traceback" not in outcome.stdout + outcome.stderr


def test_a_database_held_by_another_process_is_one_clear_line_and_the_run_resumes(tmp_path: Path) -> None:
    with emulator_process() as base:
        env = environment(
            tmp_path / "home", base, SEGPORT_BATCH_MAX_CONTACTS="40", SEGPORT_DATABASE_BUSY_TIMEOUT_SECONDS="1"
        )
        list_id = set_up(env, base, tmp_path, count=1_000)
        database = tmp_path / "home" / "segport.db"
        runner = subprocess.Popen(
            [sys.executable, "-m", "segport", "exports", "run", "E"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        holder = sqlite3.connect(database, timeout=30, isolation_level=None)
        try:
            deadline = time.monotonic() + 60
            while _checkpoints(database) < 2:
                assert runner.poll() is None, runner.communicate()
                assert time.monotonic() < deadline
                time.sleep(0.02)
            holder.execute("BEGIN IMMEDIATE")  # another process takes the write lock and keeps it
            out, err = runner.communicate(timeout=60)
        finally:
            if holder.in_transaction:
                holder.execute("COMMIT")
            holder.close()
        assert runner.returncode == 1, out + err
        lines = [line for line in err.splitlines() if line.strip()]
        assert lines[0].startswith("The database is busy"), err
        assert "segport exports run NAME" in err and "Traceback" not in out + err and "SELECT" not in err
        resumed = segport(env, "exports", "run", "E")
        assert "Successful" in resumed.stdout
        assert "Resumed" in segport(env, "runs", "show", "1").stdout
        members = httpx.get(f"{base}/_emulator/lists/{list_id}/members").json()["members"]
        assert len(members) == len({member["email"].lower() for member in members})
        planned = segport(env, "exports", "run", "E", "--dry-run").stdout
        assert "would add 0 | would update 0" in planned
        # Another command held up the same way says so without the run's hint: it left nothing to resume.
        holder = sqlite3.connect(database, timeout=30, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            refused = segport(env, "segments", "create", "Later", "customer_id is not empty", check=False)
        finally:
            holder.execute("COMMIT")
            holder.close()
        assert refused.returncode == 1 and refused.stderr.startswith("The database is busy"), refused.stderr
        assert "exports run" not in refused.stderr and "Traceback" not in refused.stderr
        assert "Later" not in segport(env, "segments", "list").stdout


def _checkpoints(database: Path) -> int:
    try:
        with sqlite3.connect(database, timeout=5) as db:
            return int(db.execute("SELECT count(*) FROM run_batches WHERE activity_id IS NOT NULL").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0
