"""A connection's Constant Contact lists: listed, searched, found by ID or name, created (and refused)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from segport.connections import lists as account_lists
from segport.errors import BadRequest, InvalidInput, TransientError, UnknownName
from segport.exports import service as exports
from segport.segments.service import create_segment
from segport.server.app import create_app
from segport.users import service as users
from tests.support.app import App
from tests.support.server import serving_app


@pytest.fixture
def connected(app: App) -> App:
    app.connect("CC")
    return app


def names(app: App, search: str = "") -> list[str]:
    return [
        item.name
        for item in account_lists.account_lists(app.store, app.settings, connection="CC", search=search, http=app.http)
    ]


def test_the_lists_come_sorted_with_members_and_the_exports_that_use_them(connected: App, tmp_path: Path) -> None:
    connected.load_profiles(tmp_path, 20)
    create_segment(connected.store, name="All", rule_text="customer_id is not empty", actor="t")
    export = connected.add_export("Weekly", "CC", ["All"])  # creates its own list, "List for Weekly"
    connected.emulator.create_list("zeta")
    connected.emulator.create_list("Alpha")
    found = account_lists.account_lists(connected.store, connected.settings, connection="CC", http=connected.http)
    assert [item.name for item in found] == sorted([item.name for item in found], key=str.casefold)
    [used] = [item for item in found if item.list_id == export.list_id]
    assert used.exports == ["Weekly"]
    assert all(item.exports == [] for item in found if item.list_id != export.list_id)
    assert all(item.members == 0 for item in found)
    assert names(connected, "ALP") == ["Alpha"]
    assert names(connected, "nothing like it") == []


def test_a_list_is_found_by_id_or_exact_name_and_an_unknown_one_names_the_lists(connected: App) -> None:
    list_id = connected.emulator.create_list("Newsletter")
    by_name = account_lists.find_list(
        connected.store, connected.settings, connection="CC", http=connected.http, list_ref="Newsletter"
    )
    by_id = account_lists.find_list(
        connected.store, connected.settings, connection="CC", http=connected.http, list_ref=list_id.upper()
    )
    assert by_name == by_id and by_name.list_id == list_id
    with pytest.raises(UnknownName, match="no list 'Newsletters'") as missing:
        account_lists.find_list(
            connected.store, connected.settings, connection="CC", http=connected.http, list_ref="Newsletters"
        )
    assert f"Newsletter ({list_id})" in (missing.value.hint or "")


def test_an_export_given_an_unknown_list_is_told_the_accounts_lists(connected: App) -> None:
    list_id = connected.emulator.create_list("Customers")
    with pytest.raises(InvalidInput, match="has no list") as refused:
        exports.check_list(
            connected.store,
            connected.settings,
            connection="CC",
            list_id="0ce51e9e-47ee-4a4b-9bd4-6e3a2f1d0c11",
            http=connected.http,
        )
    assert f"Customers ({list_id})" in (refused.value.hint or "")


def test_a_list_is_created_once_and_its_name_cannot_be_taken_again(connected: App) -> None:
    created = account_lists.create_list(
        connected.store, connected.settings, connection="CC", http=connected.http, name="  VIP Ontario  ", actor="ada"
    )
    assert created.name == "VIP Ontario" and created.members == 0
    assert connected.emulator.world.lists[created.list_id].name == "VIP Ontario"
    with pytest.raises(InvalidInput, match="already has a list named 'VIP Ontario'") as taken:
        account_lists.create_list(
            connected.store, connected.settings, connection="CC", http=connected.http, name="vip ontario", actor="ada"
        )
    assert created.list_id in str(taken.value)
    assert names(connected) == ["VIP Ontario"]


@pytest.mark.parametrize("name", ["", "   ", "x" * 256, "tab\there", "bell\x07"])
def test_a_list_name_that_cannot_be_one_is_refused_before_any_request(connected: App, name: str) -> None:
    before = connected.emulator.request_count()
    with pytest.raises(InvalidInput, match="1 to 255 characters"):
        account_lists.create_list(
            connected.store, connected.settings, connection="CC", http=connected.http, name=name, actor="ada"
        )
    assert connected.emulator.request_count() == before


def test_the_thousand_and_first_list_is_refused_before_constant_contact_is_asked(connected: App) -> None:
    for number in range(account_lists.MAX_LISTS):
        connected.emulator.world.create_list(f"L{number}")
    before = connected.emulator.request_count("createList")
    with pytest.raises(InvalidInput, match="1,000 lists"):
        account_lists.create_list(
            connected.store, connected.settings, connection="CC", http=connected.http, name="One more", actor="ada"
        )
    assert connected.emulator.request_count("createList") == before


def test_constant_contact_refusing_a_list_is_said_as_it_said_it(connected: App) -> None:
    connected.emulator.settings.max_lists = 1
    connected.emulator.create_list("Only")
    with pytest.raises(BadRequest, match="at most 1 lists"):
        account_lists.create_list(
            connected.store, connected.settings, connection="CC", http=connected.http, name="Second", actor="ada"
        )


@pytest.mark.parametrize("fault", ["createList#1=drop-after", "createList#1=drop"])
def test_a_lost_answer_to_a_create_makes_exactly_one_list(connected: App, fault: str) -> None:
    """drop-after: created, answer lost (found by name). drop: never arrived (created once more)."""
    connected.emulator.faults.add(fault)
    created = account_lists.create_list(
        connected.store, connected.settings, connection="CC", http=connected.http, name="Spring", actor="a"
    )
    assert names(connected) == ["Spring"]
    assert connected.emulator.world.lists[created.list_id].name == "Spring"


def test_an_outage_while_creating_is_an_error_and_leaves_no_list(connected: App) -> None:
    quick = connected.reopen(retry_base_delay_seconds=0.01, retry_max_delay_seconds=0.02)
    connected.emulator.faults.add("createList#1-50=503")
    with pytest.raises(TransientError):
        account_lists.create_list(
            quick.store, quick.settings, connection="CC", http=quick.http, name="Autumn", actor="a"
        )
    connected.emulator.faults.clear()
    assert names(connected) == []


def test_the_connection_is_the_only_one_or_must_be_named(app: App) -> None:
    with pytest.raises(InvalidInput, match="no connection yet"):
        account_lists.connection_or_only(app.store, None)
    app.connect("First")
    assert account_lists.connection_or_only(app.store, None) == "First"
    app.connect("Second")
    with pytest.raises(InvalidInput, match="2 connections") as several:
        account_lists.connection_or_only(app.store, None)
    assert several.value.field == "connection" and "Choose one of them" in (several.value.hint or "")
    assert account_lists.connection_or_only(app.store, "Second") == "Second"


def test_the_api_lists_and_creates_lists(connected: App) -> None:
    users.add_user(connected.store, name="cora", role="contributor", actor="t")
    connected.connect("Open", allow_contributors=True)
    token = users.issue_token(connected.store, name="cora", label="t", actor="t")[1]
    app = create_app(connected.settings, connected.store, connected.http)
    with serving_app(app) as base, httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as api:
        created = api.post("/api/connections/Open/lists", json={"name": "From the API"})
        assert created.status_code == 201, created.text
        listed = api.get("/api/connections/Open/lists", params={"search": "api"}).json()
        assert listed == [created.json()] and listed[0]["members"] == 0
        again = api.post("/api/connections/Open/lists", json={"name": "FROM THE API"})
        assert again.status_code == 422 and "already has a list" in again.json()["detail"]
        assert api.get("/api/connections/CC/lists").status_code == 403  # not shared with contributors
