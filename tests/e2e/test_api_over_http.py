"""The REST API as a user meets it: `segport serve` in its own process, the emulator in another, real HTTP.

An admin made on the command line adds a connection through the browser flow (consent, the emulator's
authorize page, back to /oauth/callback), uploads profiles, builds a segment and an export, runs it, and
reads the run's detail: Successful with the right counts.
"""

from __future__ import annotations

import csv
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from segport.emulator.serve import free_port
from segport.exports.normalize import normalize_email
from tests.e2e.cli import emulator_process, environment, segport


def test_from_a_new_user_to_a_successful_run_over_http(tmp_path: Path) -> None:
    profiles = tmp_path / "people.csv"
    with profiles.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "email", "first", "country"])
        for number in range(60):
            email = f"p{number}@example.org" if number % 10 != 1 else "not an address"
            writer.writerow([f"c{number}", email, f"Name {number}", "CA" if number % 2 else "US"])
    expected = {normalize_email(f"p{n}@example.org")[0] for n in range(60) if n % 2 and n % 10 != 1}
    port = free_port()
    base_api = f"http://127.0.0.1:{port}"
    with emulator_process("--redirect-uri", f"{base_api}/oauth/callback") as base:  # registered, as in the portal
        env = environment(tmp_path / "home", base, SEGPORT_API_PUBLIC_URL=base_api, SEGPORT_WORKER_IDLE_SECONDS="0.2")
        token = segport(env, "users", "add", "ada", "--admin").stdout.split()[-1]
        server = subprocess.Popen(
            [sys.executable, "-m", "segport", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            with httpx.Client(base_url=base_api, headers={"Authorization": f"Bearer {token}"}, timeout=30) as api:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        if api.get("/healthz").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    assert time.monotonic() < deadline, "segport serve did not start"
                    time.sleep(0.2)
                assert api.get("/api/me").json() == {"name": "ada", "role": "admin"}

                # Consent, then Constant Contact's authorize page (the emulator approves at once) sends the
                # browser back to segport's callback with the code and the state.
                refused = api.post("/api/connections", json={"name": "CC", "agreed": False})
                assert refused.status_code == 422 and "terms" in refused.json()["detail"]
                started = api.post("/api/connections", json={"name": "CC", "agreed": True}).json()
                authorize = httpx.get(started["authorize_url"], follow_redirects=False)
                assert authorize.status_code in (302, 303)
                callback = authorize.headers["location"]
                assert callback.startswith(f"{base_api}/oauth/callback?")
                landed = httpx.get(callback)
                assert landed.status_code == 200 and "is signed in to" in landed.text
                again = httpx.get(callback)  # a state works once
                assert again.status_code == 409
                connection = api.get("/api/connections/CC").json()
                assert connection["consent_by"] == "ada" and connection["account_name"]

                with profiles.open("rb") as upload:
                    loaded = api.post("/api/profiles", files={"file": ("people.csv", upload)}, data={"key": "id"})
                assert loaded.status_code == 200, loaded.text
                assert loaded.json()["rows"] == 60
                segment = api.post("/api/segments", json={"name": "Canada", "rule": 'country = "CA"'})
                assert segment.status_code == 201, segment.text
                list_id = httpx.post(f"{base}/_emulator/lists", json={"name": "Canadians"}).json()["list_id"]
                export = api.post(
                    "/api/exports",
                    json={
                        "name": "To CC",
                        "connection": "CC",
                        "list_id": list_id,
                        "email_field": "email",
                        "first_name_field": "first",
                        "segments": ["Canada"],
                    },
                )
                assert export.status_code == 201, export.text
                queued = api.post("/api/exports/To CC/run", json={}).json()
                deadline = time.monotonic() + 60
                while (detail := api.get(f"/api/runs/{queued['run_id']}").json())["status"] in ("Queued", "Processing"):
                    assert time.monotonic() < deadline, detail
                    time.sleep(0.3)
                assert detail["status"] == "Successful", detail["message"]
                counts = detail["counts"]
                assert (counts["members"], counts["added"], counts["invalid_email"]) == (30, len(expected), 6)
                rows = api.get(f"/api/runs/{queued['run_id']}/rows.csv").text.splitlines()
                assert rows[0] == "profile_key,email,reason,detail" and len(rows) == 1 + 6
                metrics = httpx.get(f"{base_api}/metrics", headers={"Authorization": f"Bearer {token}"}).text
                assert 'segport_runs{status="Successful"} 1.0' in metrics
                assert "segport_queue_depth 0.0" in metrics
                assert f"segport_rows_sent_total {len(expected)}.0" in metrics
                assert "segport_run_duration_seconds_count 1.0" in metrics
                # The worker in `serve` sent the import from this process: its requests are counted by answer.
                assert 'operation="bulkImportContactsJSON",status="201"} 1.0' in metrics
                today = re.search(r"segport_constant_contact_requests_today\{[^}]*\} (\d+)\.0", metrics)
                assert today and int(today.group(1)) >= 3  # account summary, list check, import, polls...
                audit = api.get("/api/audit").json()
                assert {"consent.given", "connection.created", "segment.created", "export.created", "run.queued"} <= {
                    entry["action"] for entry in audit
                }
            members = httpx.get(f"{base}/_emulator/lists/{list_id}/members").json()["members"]
            assert {member["email"].lower() for member in members} == expected
        finally:
            server.terminate()
            server.wait(timeout=30)
