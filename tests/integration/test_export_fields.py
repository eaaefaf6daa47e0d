"""Contact exports: only documented fields, refused like the service refuses them (strict) or answered as the most
lenient service plausibly would (permissive); segport needs neither leniency."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest

from segport.clock import ManualClock
from segport.constant_contact import json_import_batches
from segport.emulator import Emulator, EmulatorSettings, EmulatorTransport
from segport.emulator.checks import UUID
from segport.errors import BadRequest, UnexpectedResponse
from tests.conftest import BASE_URL
from tests.support.harness import Harness, connect


def fill(harness: Harness, list_id: str, emails: list[str]) -> None:
    rows = [(email, None, None) for email in emails]
    activities = [harness.client.import_contacts_json(batch) for batch in json_import_batches(rows, [list_id])]
    harness.client.wait_for_activities([activity.activity_id for activity in activities])


def exported(harness: Harness, fields: list[str], list_id: str) -> tuple[list[str], list[dict[str, str]]]:
    activity = harness.client.export_contacts(fields=fields, list_ids=[list_id])
    finished = harness.client.wait_for_activities([activity.activity_id])[activity.activity_id]
    assert finished.links.results is not None
    columns, rows = harness.client.download_contact_export(finished.links.results.href)
    return columns, list(rows)


@pytest.mark.parametrize("field", ["contact_id", "permission_to_send"])
def test_the_strict_emulator_refuses_an_undocumented_export_field(harness: Harness, field: str) -> None:
    target = harness.client.create_list("Target").list_id
    with pytest.raises(BadRequest, match=field):
        harness.client.export_contacts(fields=["email_address", field], list_ids=[target])


def test_documented_export_fields_are_taken_including_the_opt_in_ones(harness: Harness) -> None:
    target = harness.client.create_list("Target").list_id
    fill(harness, target, ["a@example.com"])
    columns, rows = exported(harness, ["email_address", "email_optin_source", "email_optin_date"], target)
    assert columns == ["email_address", "email_optin_source", "email_optin_date"]
    assert [row["email_address"] for row in rows] == ["a@example.com"]


class TestPermissive:
    @pytest.fixture
    def emulator_settings(self) -> EmulatorSettings:
        return EmulatorSettings(strict_exports=False)

    def test_an_undocumented_field_is_answered(self, harness: Harness) -> None:
        target = harness.client.create_list("Target").list_id
        fill(harness, target, ["a@example.com", "b@example.com"])
        columns, rows = exported(harness, ["contact_id", "email_address"], target)
        assert columns == ["contact_id", "email_address"]
        assert {row["email_address"] for row in rows} == {"a@example.com", "b@example.com"}
        assert all(UUID.match(row["contact_id"]) for row in rows)  # the most lenient answer: ids after all


@pytest.fixture
def raw(emulator: Emulator) -> Iterator[httpx.Client]:
    """Straight to the emulator: the contract check on segport's own requests would stop these first."""
    with httpx.Client(transport=EmulatorTransport(emulator), base_url=BASE_URL) as client:
        yield client


@pytest.mark.parametrize(
    ("body", "word"),
    [
        ({"fields": 5}, "fields"),
        ({"fields": []}, "fields"),
        ({"fields": ["email_address"], "list_ids": ["not-a-uuid"]}, "UUID"),
        ({"fields": ["email_address"], "contact_ids": [], "list_ids": []}, "together"),
        ({"fields": ["email_address"], "status": "gone"}, "status"),
        ({"fields": ["email_address"], "new_subscriber": "yes"}, "new_subscriber"),
        ({"fields": ["email_optin_source"]}, "email_address"),
    ],
)
def test_invalid_export_bodies_get_a_400_with_the_error_array(
    harness: Harness, raw: httpx.Client, body: dict[str, object], word: str
) -> None:
    token = harness.keeper.tokens.access_token.get_secret_value()
    answer = raw.post(
        f"{BASE_URL}/v3/activities/contact_exports", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 400
    [error] = answer.json()
    assert word in error["error_message"]


def test_an_oversized_json_import_whose_data_is_not_an_array_is_a_400(harness: Harness, raw: httpx.Client) -> None:
    token = harness.keeper.tokens.access_token.get_secret_value()
    body = orjson.dumps({"import_data": "x" * 4_200_000, "list_ids": ["04fe9a97-a579-43c5-bb1a-58ed29bf0a6a"]})
    answer = raw.post(
        f"{BASE_URL}/v3/activities/contacts_json_import",
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    assert "import_data" in answer.json()[0]["error_message"]


class _NoAddressColumn(httpx.BaseTransport):
    """The emulator, but export files come back with their address column renamed: an answer segport must not
    read as 'nobody is on the list'."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if "/contact_exports/" in request.url.path and response.status_code == 200:
            content = response.read().replace(b"email_address", b"e_mail", 1)
            return httpx.Response(200, headers={"content-type": "text/csv"}, content=content)
        return response


@pytest.fixture
def renamed(clock: ManualClock) -> Iterator[tuple[Harness, Emulator]]:
    emulator = Emulator(EmulatorSettings(), clock=clock)
    with httpx.Client(transport=_NoAddressColumn(EmulatorTransport(emulator)), base_url=BASE_URL) as http:
        yield connect(http, BASE_URL, clock), emulator


def test_an_export_without_an_address_column_is_an_error_never_an_empty_list(
    renamed: tuple[Harness, Emulator],
) -> None:
    harness, _ = renamed
    target = harness.client.create_list("Target").list_id
    fill(harness, target, [f"m{number}@example.com" for number in range(30)])
    with pytest.raises(UnexpectedResponse, match="no email address column") as failure:
        harness.client.emails_on_list(target)
    assert "e_mail" in str(failure.value) and "report this answer" in (failure.value.hint or "")
    with pytest.raises(UnexpectedResponse, match="no email address column"):
        harness.client.unsubscribed_emails()


class _IgnoresStatusFilter(httpx.BaseTransport):
    """The emulator, as a service would be that ignores an export's `status` filter (its values are not
    documented), or leaves `email_permission` empty."""

    def __init__(self, inner: httpx.BaseTransport, *, blank_permission: bool = False) -> None:
        self.inner = inner
        self.blank_permission = blank_permission

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/activities/contact_exports") and not self.blank_permission:
            body = orjson.loads(request.read())
            body.pop("status", None)
            request = httpx.Request(request.method, request.url, headers=request.headers, json=body)
        response = self.inner.handle_request(request)
        if self.blank_permission and "/contact_exports/" in request.url.path and response.status_code == 200:
            lines = response.read().decode().splitlines()
            header = lines[0].split(",")
            if "email_permission" in header:
                at = header.index("email_permission")
                rows = [line.split(",") for line in lines[1:]]
                for row in rows:
                    row[at] = ""
                lines = [lines[0]] + [",".join(row) for row in rows]
            return httpx.Response(200, headers={"content-type": "text/csv"}, content="\n".join(lines).encode())
        return response


def _account_with_two_unsubscribed(harness: Harness, emulator: Emulator) -> None:
    target = harness.client.create_list("Target").list_id
    fill(harness, target, [f"m{number}@example.com" for number in range(10)])
    emulator.unsubscribe("m3@example.com")
    emulator.unsubscribe("m7@example.com")


def test_the_unsubscribed_come_from_one_checked_export(harness: Harness, emulator: Emulator) -> None:
    _account_with_two_unsubscribed(harness, emulator)
    before = emulator.request_count()
    assert harness.client.unsubscribed_emails() == {"m3@example.com", "m7@example.com"}
    assert emulator.request_count("getContacts") == 0
    assert emulator.request_count() - before <= 4


@pytest.mark.parametrize("blank_permission", [False, True], ids=["filter ignored", "permission column empty"])
def test_an_export_that_did_not_filter_by_status_is_not_taken_for_the_unsubscribed(
    clock: ManualClock, blank_permission: bool
) -> None:
    """If the service took every contact for 'unsubscribed', every run would hold everyone back: the export's
    answer is checked, and the documented GET /contacts?status=unsubscribed answers instead."""
    emulator = Emulator(EmulatorSettings(), clock=clock)
    transport = _IgnoresStatusFilter(EmulatorTransport(emulator), blank_permission=blank_permission)
    with httpx.Client(transport=transport, base_url=BASE_URL) as http:
        harness = connect(http, BASE_URL, clock)
        _account_with_two_unsubscribed(harness, emulator)
        assert harness.client.unsubscribed_emails() == {"m3@example.com", "m7@example.com"}
    assert emulator.request_count("getContacts") >= 1
