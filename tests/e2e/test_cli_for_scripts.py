"""The CLI as scripts use it: --json in the documented shapes, exit codes, --version, and light start-up."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from pydantic import BaseModel

from segport import __version__, outputs
from tests.e2e.cli import emulator_process, environment, prepared, segport


def conforms(value: Any, model: type[BaseModel]) -> None:
    """The value matches the model's published JSON schema (the one docs/json-output.md points to)."""
    jsonschema_rs.validator_for(model.model_json_schema(mode="serialization")).validate(value)


def json_of(env: dict[str, str], *args: str) -> Any:
    done = segport(env, *args, "--json")
    return json.loads(done.stdout)


def test_every_list_show_and_run_command_prints_json_in_the_documented_shape(tmp_path: Path) -> None:
    with emulator_process() as base:
        env = environment(tmp_path / "home", base)
        list_id = prepared(env, base, tmp_path, count=120, list_name="Scripted")
        segport(
            env,
            *("exports", "add", "--name", "E", "--connection", "CC", "--list-id", list_id),
            *("--email-field", "email", "--segment", "Everyone"),
        )

        planned = json_of(env, "exports", "run", "E", "--dry-run")
        conforms(planned, outputs.DryRun)
        assert planned["export"] == "E" and planned["members"] == 120 and planned["add"] > 0

        done = segport(env, "exports", "run", "E", "--json")
        assert done.returncode == 0
        ran = json.loads(done.stdout)  # stdout is the document alone: no progress bar, no summary line
        conforms(ran, outputs.RunDetail)
        assert ran["status"] == "Successful" and ran["export"] == "E"
        assert ran["counts"]["members"] == 120
        assert ran["counts"]["sent"] + ran["counts"]["invalid_email"] + ran["counts"]["duplicate"] == 120
        assert ran["created_at"].endswith("Z")  # every time carries its zone (UTC)

        listed = json_of(env, "runs", "list")
        conforms(listed[0], outputs.Run)
        assert [run["id"] for run in listed] == [ran["id"]]
        assert json_of(env, "runs", "list", "--status", "failure") == []
        assert json_of(env, "runs", "list", "--before", str(ran["id"])) == []
        shown = json_of(env, "runs", "show", str(ran["id"]))
        assert shown["id"] == ran["id"] and shown["batches"] and shown["events"]
        rows = json_of(env, "runs", "rows", str(ran["id"]))
        assert len(rows) == ran["rows_not_sent"] and rows  # the generated profiles include bad emails
        for row in rows:
            conforms(row, outputs.Row)

        segport(env, "users", "add", "ada", "--role", "contributor")
        for args, model in (
            (("exports", "list"), outputs.Export),
            (("segments", "list"), outputs.Segment),
            (("connections", "list"), outputs.Connection),
            (("lists",), outputs.AccountList),
            (("users", "list"), outputs.User),
            (("users", "tokens"), outputs.Token),
            (("audit",), outputs.AuditEntry),
        ):
            found = json_of(env, *args)
            assert found, args
            for item in found:
                conforms(item, model)
        assert json_of(env, "alerts", "list") == []
        source = json_of(env, "profiles", "show")
        conforms(source, outputs.ProfileSource)
        assert source["rows"] == 120 and any(field["name"] == "email" for field in source["fields"])
        schedules = json_of(env, "schedule", "show")
        conforms(schedules, outputs.Schedules)
        assert schedules["system"] is None and [item["export"] for item in schedules["exports"]] == ["E"]
        assert json_of(env, "schedule", "refreshes") == []
        assert json_of(env, "exports", "run-all") == []  # no export has an active schedule
        properties = json_of(env, "exports", "properties")
        for item in properties:
            conforms(item, outputs.Property)
        assert {"job_title", "birthday_month"} <= {item["target"] for item in properties}
        assert json_of(env, "segments", "count", "Everyone") == {"name": "Everyone", "members": 120}
        counts = json_of(env, "segments", "history", "Everyone")
        assert counts and all(item["members"] == 120 for item in counts)
        exported = json_of(env, "exports", "show", "E")
        conforms(exported, outputs.Export)
        assert exported["list_id"] == list_id and exported["segments"] == ["Everyone"]
        assert json_of(env, "segments", "show", "Everyone")["member_count"] == 120
        assert json_of(env, "connections", "show", "CC")["exports"] == ["E"]
        assert json_of(env, "lists", "show", list_id)["name"] == "Scripted"


def test_a_refused_json_command_prints_nothing_on_stdout_and_exits_2(tmp_path: Path) -> None:
    env = environment(tmp_path / "home", "http://unused")
    for args in (("runs", "show", "7"), ("runs", "rows", "7"), ("exports", "show", "nope"), ("segments", "show", "x")):
        done = segport(env, *args, "--json", check=False)
        assert (done.returncode, done.stdout) == (2, ""), args
        assert "Traceback" not in done.stderr and done.stderr.strip()
    # The error speaks to everyone; the CLI adds its own way to the fix.
    shown = segport(env, "runs", "show", "7", check=False).stderr
    assert "Check the number in the list of runs." in shown
    assert "On the command line: segport runs list shows them." in shown
    done = segport(env, "exports", "run", "E", "--dry-run", "--show-rows", "--json", check=False)
    assert done.returncode == 2 and "Choose one of them" in done.stderr


def test_version_and_exit_codes(tmp_path: Path) -> None:
    env = environment(tmp_path / "home", "http://unused")
    assert segport(env, "--version").stdout == f"segport {__version__}\n"
    assert segport(env, "version").stdout == f"{__version__}\n"
    assert segport(env, "runs", "list", "--status", "lost", check=False).returncode == 2  # a usage mistake
    assert segport(env, "no-such-command", check=False).returncode == 2


# (command, the top-level packages it must not import): the help and the version need neither the store nor
# Constant Contact; listing runs needs the store but not the exporter, the web app or Parquet. The help is plain
# text: typer's boxed help imports rich's Markdown and traceback renderers (a third of its start-up).
NO_STORE = ("sqlalchemy", "httpx", "fastapi", "pydantic_settings", "cryptography", "alembic", "pyarrow")
BOXED_HELP = ("typer.rich_utils", "rich.markdown", "rich.traceback")
LIGHT = [
    (("--help",), (*NO_STORE, *BOXED_HELP)),
    (("--version",), NO_STORE),
    (("db", "--help"), (*NO_STORE, *BOXED_HELP)),
    (("runs", "--help"), ("httpx", "fastapi", "pyarrow", *BOXED_HELP)),
    (("runs", "list"), ("httpx", "fastapi", "uvicorn", "pyarrow", "segport.exports", "segport.web", "segport.api")),
]


@pytest.mark.parametrize(("args", "heavy"), LIGHT)
def test_light_commands_import_only_what_they_use(tmp_path: Path, args: Any, heavy: Any) -> None:
    # Counted in modules, not seconds, so it cannot flake; bench/cli_startup.py measures the time.
    probe = (
        "import sys\n"
        f"sys.argv = ['segport', *{list(args)!r}]\n"
        "from segport.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"heavy = {heavy!r}\n"
        "print(sorted({h for h in heavy for name in sys.modules if name == h or name.startswith(h + '.')}),"
        " file=sys.stderr)\n"
    )
    env = environment(tmp_path / "home", "http://unused")
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert done.stderr.strip().splitlines()[-1] == "[]", done.stderr


def test_names_saved_before_they_were_checked_print_escaped(tmp_path: Path) -> None:
    # A store from before names were checked may hold a segment named with an escape sequence: listing it must
    # not let that sequence reach the terminal (it could retitle the window or hide the rest of the line).
    env = environment(tmp_path / "home", "http://unused")
    profiles = tmp_path / "profiles.csv"
    segport(env, "profiles", "generate", str(profiles), "--count", "10")
    segport(env, "profiles", "import", str(profiles), "--key", "Customer ID")
    segport(env, "segments", "create", "Plain", "customer_id is not empty")
    with sqlite3.connect(tmp_path / "home" / "segport.db") as db:
        db.execute("UPDATE segments SET name = ?", ("Bad\x1b]0;owned\x07[bold]",))
    done = segport(env, "segments", "list")
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout
    assert "Bad\\x1b]0;owned\\x07[bold]" in done.stdout  # escaped, and rich's markup taken literally
    assert json_of(env, "segments", "list")[0]["name"] == "Bad\x1b]0;owned\x07[bold]"  # JSON keeps it exact


def test_an_older_segport_on_a_newer_database_says_so_and_changes_nothing(tmp_path: Path) -> None:
    env = environment(tmp_path / "home", "http://unused")
    segport(env, "users", "add", "ada", "--admin", "--no-token")
    database = tmp_path / "home" / "segport.db"
    with sqlite3.connect(database) as db:
        db.execute("UPDATE alembic_version SET version_num = '0099'")  # as a future segport would leave it
    done = segport(env, "runs", "list", check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "upgraded by a newer segport" in done.stderr and "revision 0099" in done.stderr
    assert "pip install -U segport" in done.stderr and len(done.stderr.splitlines()) <= 6
    with sqlite3.connect(database) as db:  # nothing was changed: the users and the revision are as they were
        assert db.execute("SELECT version_num FROM alembic_version").fetchone() == ("0099",)
        assert db.execute("SELECT name FROM users").fetchall() == [("ada",)]


def test_users_without_a_password_are_told_how_to_get_one(tmp_path: Path) -> None:
    env = environment(tmp_path / "home", "http://unused")
    segport(env, "users", "add", "old", "--role", "viewer", "--no-token")  # as users from before passwords
    listed = segport(env, "users", "list").stdout
    assert "no password: segport users password old" in listed
    assert json_of(env, "users", "list")[0]["has_password"] is False
