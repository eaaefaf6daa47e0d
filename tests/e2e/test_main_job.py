"""The main job from the command line: the demo, a run killed mid-send and resumed, and bad input."""

from __future__ import annotations

import csv
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

from segport.exports.normalize import normalize_email
from tests.e2e.cli import emulator_process, environment, prepared, segport


def test_the_demo_prints_a_successful_run_whose_counts_add_up(tmp_path: Path) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "segport", "demo"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**environment(tmp_path, "http://unused"), "TMPDIR": str(temporary)},
    )
    assert list(temporary.iterdir()) == []  # nothing left behind
    assert re.search(r"The demo's data was removed\. To keep it and look around: \S+ demo --keep", done.stdout)
    assert re.search(r"C\d+ +\S+ +(missing email|invalid email|duplicate)", done.stdout)  # rows not sent, shown
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Successful" in out
    assert "members = sent + invalid email + duplicate + unchanged: yes" in out
    numbers = {
        name: int(value.replace(",", ""))
        for name, value in re.findall(r"(members|sent|invalid email|duplicate|unsubscribed|errors) ([\d,]+)", out)
    }
    assert numbers["members"] == numbers["sent"] + numbers["invalid email"] + numbers["duplicate"]
    listed = int(re.search(r"list now holds ([\d,]+) contacts", out).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert listed == numbers["sent"] - numbers["unsubscribed"] - numbers["errors"]
    assert "Traceback" not in done.stderr


def expected_emails(path: Path) -> set[str]:
    with path.open(encoding="utf-8") as handle:
        results = {normalize_email(row["Email"]) for row in csv.DictReader(handle)}
    return {email for email, problem in results if problem is None}


def test_an_export_killed_mid_send_resumes_and_delivers_every_member_once(tmp_path: Path) -> None:
    # The 6th import is processed by the emulator but never answered: the run is killed while it waits, so
    # at the kill every batch Constant Contact acknowledged is checkpointed, and one is in flight.
    with emulator_process("--fault", "imports#6=timeout") as base:
        env = environment(tmp_path / "home", base, SEGPORT_BATCH_MAX_CONTACTS="40")
        list_id = prepared(env, base, tmp_path, count=1500, list_name="Killed")
        profiles = tmp_path / "profiles.csv"  # what prepared() generated
        segport(
            env,
            "exports",
            "add",
            "--name",
            "E",
            "--connection",
            "CC",
            "--list-id",
            list_id,
            "--email-field",
            "email",
            "--first-name-field",
            "first_name",
            "--segment",
            "Everyone",
        )
        database = tmp_path / "home" / "segport.db"
        runner = subprocess.Popen(
            [sys.executable, "-m", "segport", "exports", "run", "E"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def imports() -> dict[str, int]:
            stats = httpx.get(f"{base}/_emulator/stats").json()["by_operation"]
            return dict(stats.get("bulkImportContactsJSON", {}))

        def checkpoints() -> int:
            with sqlite3.connect(database) as db:
                # Accepted batches: a batch is recorded `prepared` (no activity yet) before it is sent.
                return int(db.execute("SELECT count(*) FROM run_batches WHERE activity_id IS NOT NULL").fetchone()[0])

        try:
            deadline = time.monotonic() + 60
            # The held import is counted under status 0; a 429 retried on the way shifts nothing else.
            while not (imports().get("0") == 1 and checkpoints() == imports().get("201")):
                assert runner.poll() is None, "the run ended before it could be killed"
                assert time.monotonic() < deadline, (imports(), checkpoints())
                time.sleep(0.05)
        finally:
            runner.send_signal(signal.SIGKILL)
            runner.wait(timeout=30)
        before = imports()
        assert before["0"] == 1 and before["201"] == checkpoints() >= 4

        resumed = segport(env, "exports", "run", "E")
        assert "Successful" in resumed.stdout
        accepted = imports()["201"]
        assert accepted == checkpoints()  # every acknowledged batch was sent exactly once
        assert accepted > before["201"]
        members = httpx.get(f"{base}/_emulator/lists/{list_id}/members").json()["members"]
        emails = [member["email"].lower() for member in members]
        assert len(emails) == len(set(emails))
        assert set(emails) == expected_emails(profiles)
        history = segport(env, "runs", "list", "--export", "E").stdout
        assert history.count("Successful") == 1
        planned = segport(env, "exports", "run", "E", "--dry-run", "--show-rows").stdout
        assert "nothing was sent" in planned and "would add 0 | would update 0" in planned
        assert imports()["201"] == accepted  # the dry run sent nothing
        rows = segport(env, "runs", "rows", "1", "--csv").stdout.splitlines()
        assert rows[0] == "profile_key,email,reason,detail"
        assert len(rows) - 1 == len(set(rows[1:]))

        assert "Disconnected export 'E'." in segport(env, "exports", "disconnect", "E").stdout
        assert "Connection: none: disconnected" in segport(env, "exports", "show", "E").stdout
        refused = segport(env, "exports", "run", "E", check=False)
        assert refused.returncode == 2 and "has no connection" in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
        segport(env, "connections", "remove", "CC")


def test_bad_input_gets_a_message_and_a_fix_never_a_traceback(tmp_path: Path) -> None:
    env = environment(tmp_path / "home", "http://127.0.0.1:9")
    latin = tmp_path / "latin1.csv"
    latin.write_bytes("id,email\n1,a@x.io\n2,jos\xe9@x.io\n".encode("latin-1"))
    cases = [
        (("profiles", "import", str(latin), "--key", "id"), "line 3: the bytes are not UTF-8"),
        (("segments", "create", "S", 'country = "CA"'), "No customer profiles are loaded yet"),
        (("exports", "run", "Nope"), "There is no export named 'Nope'"),
        (("runs", "show", "42"), "There is no run 42"),
        (("connections", "add", "constant-contact", "--name", "CC"), "terms above were not accepted"),
        (("runs", "show", "abc"), "Invalid value"),  # usage mistakes too: typer carries its own click
        (("no-such-command",), "No such command"),
    ]
    for args, message in cases:
        done = segport(env, *args, check=False)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr + done.stdout
    good = tmp_path / "good.csv"
    good.write_text("id,email,country\n1,a@x.io,CA\n", encoding="utf-8")
    segport(env, "profiles", "import", str(good), "--key", "id")
    typo = segport(env, "segments", "create", "S", 'contry = "CA"', check=False)
    assert typo.returncode == 2
    assert "Unknown field 'contry' (at column 1)" in typo.stderr and "^^^^^^" in typo.stderr
    assert "The profile fields are: id, email, country." in typo.stderr
    segport(env, "segments", "create", "Canada", 'country = "CA"')
    written = segport(env, "segments", "members", "Canada", "--output", str(tmp_path / "canada.csv"))
    assert "Wrote 1 member of 'Canada'" in written.stdout
    assert (tmp_path / "canada.csv").read_text(encoding="utf-8") == "id,email,country\n1,a@x.io,CA\n"
    nowhere = segport(env, "segments", "members", "Canada", "--output", str(tmp_path / "no" / "dir.csv"), check=False)
    assert nowhere.returncode == 2 and "Cannot write" in nowhere.stderr and "Traceback" not in nowhere.stderr


def test_the_demo_kept_suggests_a_next_command_that_works(tmp_path: Path) -> None:
    kept = tmp_path / "kept demo"
    env = environment(tmp_path / "home", "http://unused")
    done = subprocess.run(
        [sys.executable, "-m", "segport", "demo", "--keep", str(kept)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    suggested = re.search(r"e\.g\. (SEGPORT_HOME=.*runs rows \d+ --csv)", done.stdout)
    assert suggested is not None, done.stdout
    words = shlex.split(suggested.group(1))
    home = words[0].removeprefix("SEGPORT_HOME=")
    assert Path(home) == kept and (kept / "segport.db").exists()
    rows = subprocess.run(words[1:], capture_output=True, text=True, timeout=60, env={**env, "SEGPORT_HOME": home})
    assert rows.returncode == 0, rows.stderr
    assert rows.stdout.startswith("profile_key,email,reason,detail") and "invalid_email" in rows.stdout
