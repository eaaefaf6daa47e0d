"""What the CLI says about database trouble: one line naming the problem and the fix, never SQL or data."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from segport.cli.failures import database_trouble


def trouble(driver_message: str) -> OperationalError:
    return OperationalError(
        "INSERT INTO run_rows (email) VALUES (?)", ("ada@example.com",), sqlite3.OperationalError(driver_message)
    )


@pytest.mark.parametrize(
    ("driver_message", "says", "fix"),
    [
        ("database is locked", "The database is busy", "Try again when that process is done"),
        ("database or disk is full", "The disk that holds the database is full", "Free some space"),
        ("attempt to write a readonly database", "cannot be written", "permissions of SEGPORT_HOME"),
        ("connection refused", "cannot be reached", "SEGPORT_DATABASE_URL"),
    ],
)
def test_each_kind_of_database_trouble_is_named_with_its_fix(driver_message: str, says: str, fix: str) -> None:
    message, hint = database_trouble(trouble(driver_message))
    assert says in message and fix in hint
    assert "INSERT" not in message + hint and "ada@example.com" not in message + hint
    assert "exports run" not in hint  # nothing was running: the command's transaction left nothing to resume


@pytest.mark.parametrize("driver_message", ["database is locked", "database or disk is full"])
def test_a_command_that_runs_exports_is_told_its_interrupted_run_resumes(driver_message: str) -> None:
    _, hint = database_trouble(trouble(driver_message), runs=True)
    assert hint.endswith("An interrupted export run resumes where it stopped: segport exports run NAME.")


def test_unknown_database_trouble_points_at_a_report_and_keeps_the_details_out_of_the_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEGPORT_HOME", str(tmp_path))
    message, hint = database_trouble(trouble("malformed database schema (x)"))
    assert message == "The database refused an operation (OperationalError)."
    report = Path(hint.removeprefix("The full report is in ").removesuffix("."))
    assert report.parent == tmp_path / "errors" and "malformed database schema" in report.read_text()
    assert oct(report.stat().st_mode & 0o777) == "0o600"


def test_the_report_goes_to_the_settings_home_when_they_were_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEGPORT_HOME", str(tmp_path / "environment"))
    _, hint = database_trouble(trouble("malformed database schema (x)"), runs=True, home=tmp_path / "configured")
    report = Path(hint.split("The full report is in ")[1].split(". ")[0])
    assert report.parent == tmp_path / "configured" / "errors" and report.is_file()
    assert hint.endswith("segport exports run NAME.")
