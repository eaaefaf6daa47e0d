"""`segport emulator` as a separate process: the client against it, faults from the command line, restarts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from segport.clock import SystemClock
from segport.constant_contact import json_import_batches
from tests.e2e.cli import emulator_process
from tests.support.contract import Contract, ContractTransport
from tests.support.harness import connect


def test_the_client_works_against_the_emulator_command_with_scheduled_faults(contract: Contract) -> None:
    with (
        emulator_process("--fault", "imports#1=503", "--fault", "activities#1=failed") as base,
        httpx.Client(transport=ContractTransport(httpx.HTTPTransport(), contract)) as http,
    ):
        harness = connect(http, base, SystemClock())
        target = harness.client.create_list("Over the wire").list_id
        ids = [
            harness.client.import_contacts_json(batch).activity_id
            for batch in json_import_batches([("one@example.com", "Ünal", None)], [target])
        ]
        ids += [
            harness.client.import_contacts_json(batch).activity_id
            for batch in json_import_batches([("one@example.com", "Ünal", None)], [target])
        ]
        done = harness.client.wait_for_activities(ids)
        assert [done[i].state for i in ids] == ["failed", "completed"]
        stats = http.get(f"{base}/_emulator/stats").json()
        assert stats["by_operation"]["bulkImportContactsJSON"] == {"201": 2, "503": 1}
        members = http.get(f"{base}/_emulator/lists/{target}/members").json()["members"]
        assert [(m["email"], m["first_name"]) for m in members] == [("one@example.com", "Ünal")]


def test_the_state_file_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "cc.json"
    with emulator_process("--state", str(state)) as base:
        list_id = httpx.post(f"{base}/_emulator/lists", json={"name": "Kept across restarts"}).json()["list_id"]
    assert state.exists()
    with emulator_process("--state", str(state)) as base:
        lists = httpx.get(f"{base}/_emulator/lists").json()["lists"]
        assert [(item["list_id"], item["name"]) for item in lists] == [(list_id, "Kept across restarts")]


def test_a_bad_fault_is_refused_with_the_form_to_use_and_no_traceback() -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "segport", "emulator", "--fault", "imports=often"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert finished.returncode == 2
    assert "TARGET#FIRST[-LAST]=EFFECT" in finished.stderr
    assert "Traceback" not in finished.stderr + finished.stdout


def test_a_corrupt_state_file_is_refused_with_a_message(tmp_path: Path) -> None:
    state = tmp_path / "cc.json"
    state.write_text("{not json")
    finished = subprocess.run(
        [sys.executable, "-m", "segport", "emulator", "--state", str(state)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert finished.returncode == 2
    assert "cannot be read" in finished.stderr
    assert "Traceback" not in finished.stderr
    assert state.read_text() == "{not json"  # nothing already stored is lost
