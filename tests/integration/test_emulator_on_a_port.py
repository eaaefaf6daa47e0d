"""The same emulator over real sockets (ASGI under uvicorn), and its state kept in a file."""

from __future__ import annotations

from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import pytest

from segport.clock import SystemClock
from segport.constant_contact import json_import_batches
from segport.constant_contact.batching import JsonImportBatcher
from segport.emulator import Emulator, EmulatorSettings
from segport.emulator.persistence import save_state
from tests.support.contract import Contract, ContractTransport
from tests.support.harness import connect
from tests.support.server import serving


@pytest.fixture
def served() -> Iterator[tuple[Emulator, str]]:
    emulator = Emulator(EmulatorSettings())
    with serving(emulator) as base_url:
        yield emulator, base_url


def test_a_client_over_http_imports_and_survives_a_dropped_connection(
    served: tuple[Emulator, str], contract: Contract
) -> None:
    emulator, base_url = served
    emulator.faults.add("imports#1=drop", "imports#2=drop-after")
    transport = ContractTransport(httpx.HTTPTransport(), contract)
    with httpx.Client(transport=transport) as http:
        harness = connect(http, base_url, SystemClock())
        target = harness.client.create_list("Over HTTP").list_id
        rows = [(f"h{i}@example.com", "Hé", "Łukasz") for i in range(50)]
        activities = [harness.client.import_contacts_json(batch) for batch in json_import_batches(rows, [target])]
        harness.client.wait_for_activities([activity.activity_id for activity in activities])
    assert emulator.request_count("bulkImportContactsJSON", 0) == 2
    assert len(emulator.members(target)) == 50
    assert emulator.contact("h1@example.com")["last_name"] == "Łukasz"  # type: ignore[index]


def test_inspection_api_over_http(served: tuple[Emulator, str]) -> None:
    emulator, base_url = served
    list_id = emulator.create_list("Inspect")
    emulator.world.add_to_lists(emulator.world.upsert("x@example.com", "X", None, emulator.clock.now()), [list_id])
    with httpx.Client(base_url=base_url) as http:
        members = http.get(f"/_emulator/lists/{list_id}/members").json()["members"]
        assert [member["email"] for member in members] == ["x@example.com"]
        assert (
            http.post("/_emulator/contacts/x@example.com/unsubscribe").json()["email_address"]["permission_to_send"]
            == "unsubscribed"
        )
        assert http.get(f"/_emulator/lists/{list_id}/members").json()["members"] == []
        assert http.post("/_emulator/faults", json={"faults": ["imports#9=drop"]}).json() == {
            "faults": ["imports#9=drop"]
        }
        bad = http.post("/_emulator/faults", json={"faults": ["nonsense"]})
        assert bad.status_code == 400 and "TARGET#FIRST" in bad.json()["error"]
        assert http.get("/_emulator/stats").json()["lists"] == 1
        assert http.get("/_emulator/nothing").status_code == 404


def test_the_state_file_keeps_contacts_lists_activities_and_tokens(tmp_path: Path, contract: Contract) -> None:
    state = tmp_path / "emulator.json"
    clock = SystemClock()
    emulator = Emulator(EmulatorSettings(requests_per_second=None), state_file=state)
    with (
        serving(emulator) as base_url,
        httpx.Client(transport=ContractTransport(httpx.HTTPTransport(), contract)) as http,
    ):
        harness = connect(http, base_url, clock)
        target = harness.client.create_list("Kept").list_id
        harness.client.create_custom_field("tier")
        batcher = JsonImportBatcher([target])
        batcher.add(
            "keep@example.com",
            "Kay",
            None,
            {"job_title": "Chef", "cf:tier": "gold", "birthday_month": 2, "birthday_day": 9},
        )
        batch = batcher.flush()
        assert batch is not None
        activity = harness.client.import_contacts_json(batch)
        harness.client.wait_for_activities([activity.activity_id])
    save_state(emulator, state)

    restarted = Emulator(EmulatorSettings(requests_per_second=None), state_file=state)
    assert restarted.members(target) == ["keep@example.com"]
    with (
        serving(restarted) as base_url,
        httpx.Client(transport=ContractTransport(httpx.HTTPTransport(), contract)) as http,
    ):
        again = connect(http, base_url, clock, tokens=harness.keeper.tokens)
        assert again.client.get_activity(activity.activity_id).state == "completed"  # the old access token works
        refresh = again.keeper.tokens.refresh_token
        assert refresh is not None
        assert again.oauth.refresh(refresh).access_token  # and so does the refresh token
    kept = restarted.contact("keep@example.com")
    assert kept is not None and kept["first_name"] == "Kay"
    assert kept["properties"] == {"job_title": "Chef", "cf:tier": "gold", "birthday_month": 2, "birthday_day": 9}
    assert list(restarted.world.custom_fields) == ["tier"]


def test_answers_over_http_carry_one_date_header_from_the_emulators_clock(served: tuple[Emulator, str]) -> None:
    emulator, base_url = served
    with httpx.Client(base_url=base_url) as http:
        answer = http.get("/v3/account/summary")  # no token: refused, and dated all the same
    assert answer.status_code == 401
    assert len(answer.headers.get_list("date")) == 1  # the emulator's, not uvicorn's as well
    moment = parsedate_to_datetime(answer.headers["date"])
    assert abs((moment - emulator.clock.now()).total_seconds()) < 5
