"""The contract check itself: it must catch what the spec forbids, or it proves nothing."""

from __future__ import annotations

import hashlib

import httpx
import orjson
import pytest

from segport.emulator import Emulator
from tests.conftest import BASE_URL
from tests.support.contract import SPEC_PATH, Contract, ContractViolation
from tests.support.harness import Harness

LIST = "04fe9a97-a579-43c5-bb1a-58ed29bf0a6a"
TOKEN = {"Authorization": "Bearer x"}


def request(method: str, path: str, **kwargs: object) -> httpx.Request:
    return httpx.Request(method, f"{BASE_URL}/v3{path}", **kwargs)  # type: ignore[arg-type]


def test_the_spec_is_constant_contacts_file_byte_for_byte() -> None:
    source = (SPEC_PATH.parent / "SOURCE.txt").read_text()
    digest = hashlib.sha256(SPEC_PATH.read_bytes()).hexdigest()
    assert f"sha256:       {digest}" in source


@pytest.mark.parametrize(
    ("bad_request", "complaint"),
    [
        (request("GET", "/account/summary"), "no bearer token"),
        (request("GET", "/nowhere", headers=TOKEN), "not an operation of the V3 spec"),
        (request("GET", "/contact_lists", params={"limit": 5000}, headers=TOKEN), "above 1000"),
        (
            request("GET", "/contact_lists", params={"colour": "red"}, headers=TOKEN),
            "'colour' is not in the spec",
        ),
        (request("GET", "/contact_lists/not-a-uuid", headers=TOKEN), "is not a uuid"),
        (
            request(
                "POST",
                "/activities/contacts_json_import",
                headers={**TOKEN, "content-type": "application/json"},
                content=orjson.dumps(
                    {"import_data": [{"email": "a@b.co", "first_name": "x" * 51}], "list_ids": [LIST]}
                ),
            ),
            "longer than 50",
        ),
        (
            request(
                "POST",
                "/activities/contacts_json_import",
                headers={**TOKEN, "content-type": "application/json"},
                content=orjson.dumps({"import_data": [], "list_ids": ["not-a-uuid"]}),
            ),
            'is not a "uuid"',
        ),
        (
            request(
                "POST",
                "/activities/contacts_json_import",
                headers={**TOKEN, "content-type": "application/json"},
                content=orjson.dumps({"import_data": []}),
            ),
            "list_ids",
        ),
        (
            request(
                "POST",
                "/activities/remove_list_memberships",
                headers={**TOKEN, "content-type": "application/json"},
                content=orjson.dumps({"source": {"contact_ids": [LIST] * 501}, "list_ids": [LIST]}),
            ),
            "more than 500",
        ),
        (
            request("POST", "/activities/contacts_file_import", headers=TOKEN, data={"list_ids": LIST}),
            "sent as",
        ),
    ],
)
def test_requests_outside_the_spec_are_caught(contract: Contract, bad_request: httpx.Request, complaint: str) -> None:
    problems = contract.request_problems(bad_request)
    assert any(complaint in problem for problem in problems), problems


def test_the_remove_memberships_override_lets_valid_requests_through(contract: Contract) -> None:
    good = request(
        "POST",
        "/activities/remove_list_memberships",
        headers={**TOKEN, "content-type": "application/json"},
        content=orjson.dumps({"source": {"contact_ids": [LIST] * 500}, "list_ids": [LIST, LIST]}),
    )
    assert contract.request_problems(good) == []
    raw = Contract.load()
    raw.definitions = __import__("yaml").load(SPEC_PATH.read_text(), Loader=__import__("yaml").CSafeLoader)[
        "definitions"
    ]
    assert raw.request_problems(good), "without the override the spec's maxItems: 0 refuses every request"


@pytest.mark.parametrize(
    ("status", "body", "complaint"),
    [
        (200, {"name": "no id"}, "list_id"),
        (200, {"list_id": "nope", "name": "x"}, "uuid"),
        (200, {"list_id": LIST, "name": "x", "created_at": "yesterday"}, "date-time"),
        (202, {"list_id": LIST, "name": "x"}, "not a documented answer"),
        (404, {"message": "no"}, "error_key"),
    ],
)
def test_answers_outside_the_spec_are_caught(contract: Contract, status: int, body: object, complaint: str) -> None:
    sent = request("GET", f"/contact_lists/{LIST}", headers=TOKEN)
    answer = httpx.Response(status, json=body, request=sent)
    problems = contract.response_problems(sent, answer)
    assert any(complaint in problem for problem in problems), problems


def test_every_operation_the_client_uses_is_checked(harness: Harness, emulator: Emulator, contract: Contract) -> None:
    client = harness.client
    target = client.create_list("All operations").list_id
    client.iter_lists(name="All operations").__next__()
    client.get_list(target)
    client.account_summary()
    from segport.constant_contact import json_import_batches
    from segport.constant_contact.batching import JsonImportBatcher
    from segport.exports.properties import PROPERTIES

    [batch] = json_import_batches([(f"c{i}@example.com", None, None) for i in range(5)], [target])
    activity = client.import_contacts_json(batch)
    client.create_custom_field("tier")
    assert [field.name for field in client.custom_fields()] == ["tier"]
    # An import with every property a mapping can fill: the spec's JsonImportContact must take each of them.
    batcher = JsonImportBatcher([target])
    every = {
        name: ("2024-02-29" if item.kind == "date" else 2 if item.kind != "text" else "x")
        for name, item in PROPERTIES.items()
    }
    batcher.add("props@example.com", "P", "Q", {**every, "cf:tier": "gold"})
    with_properties = client.import_contacts_json(batcher.flush())  # type: ignore[arg-type]
    client.wait_for_activities([with_properties.activity_id])
    kept = emulator.contact("props@example.com")
    assert kept is not None and kept["properties"] == {**every, "cf:tier": "gold"}
    csv_activity = client.import_contacts_csv(b"email\nz@example.com\n", [target])
    client.wait_for_activities([activity.activity_id, csv_activity.activity_id])
    assert client.emails_on_list(target) == {f"c{i}@example.com" for i in range(5)} | {
        "z@example.com",
        "props@example.com",
    }
    client.emails_on_list(target, ["c1@example.com"])
    client.unsubscribed_emails()
    removal = client.remove_members_of_list(target, [target])
    client.wait_for_activities([removal.activity_id])
    assert {
        "createList",
        "getLists",
        "getList",
        "getAccountById",
        "bulkImportContactsJSON",
        "contactsCSVImport",
        "getActivity",
        "getActivityStatusCollection",
        "postContactsExport",
        "getContactsExport",
        "getContacts",
        "postListRemoveContact",
        "getCustomFields",
        "postCustomFields",
    } <= contract.seen_operations
    assert emulator.members(target) == []


def test_a_violation_fails_the_request_that_made_it(http: httpx.Client) -> None:
    with pytest.raises(ContractViolation, match="no bearer token"):
        http.get(f"{BASE_URL}/v3/account/summary")


def test_the_emulator_names_each_route_by_the_specs_operation_id(contract: Contract) -> None:
    from segport.emulator import v3

    for method, pattern, operation, _ in v3.ROUTES:
        template = pattern.pattern.removeprefix("^/v3").removesuffix("$")
        sample = httpx.URL(BASE_URL + "/v3" + __import__("re").sub(r"\(\?P<\w+>\[\^/\]\+\)", LIST, template))
        found = contract.find(method, sample)
        assert found is not None, f"{method} {template} is not in the spec"
        assert found[0].operation_id == operation
