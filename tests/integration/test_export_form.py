"""The export form's list picker and Create list, as a browser without scripts uses them (the browser tests
drive the scripted form): choose from the account's lists, create one, and what the form says when it cannot."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from segport.connections.lists import account_lists
from segport.exports import service as exports
from segport.server.app import create_app
from segport.users import service as users
from tests.support.app import App
from tests.support.server import serving_app
from tests.support.web import PASSWORD, csrf_token, signed_in


@pytest.fixture
def site(app: App, tmp_path: Path) -> Iterator[str]:
    app.exports_on_shared_and_private(tmp_path)  # connections Shared (contributors too) and Private
    for name, role in (("ada", "admin"), ("cora", "contributor")):
        users.add_user(app.store, name=name, role=role, actor="t", password=PASSWORD)
    with serving_app(create_app(app.settings, app.store, app.http)) as base:
        yield base


def form(connection: str = "Shared", **fields: str) -> dict[str, str]:
    return {
        "name": "Picked",
        "connection": connection,
        "email_field": "email",
        "segments": "Everyone",
        "mode": "add",
        **fields,
    }


def options(page: str) -> dict[str, str]:
    """The picker's options: list ID -> shown text."""
    picker = page[page.index('id="list_pick"') : page.index("</select>", page.index('id="list_pick"'))]
    return dict(re.findall(r'<option value="([0-9a-f-]{36})"[^>]*>([^<]*)</option>', picker))


def test_the_form_offers_the_only_connection_and_its_lists(app: App, site: str) -> None:
    with signed_in(site, "cora") as client:  # a contributor may use only Shared
        page = client.get("/exports/new").text
    assert re.search(r'<option value="Shared" selected>', page)
    assert re.search(r'<option value="email" selected>', page)
    expected = account_lists(app.store, app.settings, connection="Shared", http=app.http)
    assert options(page) == {item.list_id: f"{item.name} ({item.members:,} members)" for item in expected}
    assert len(expected) == 2


def test_a_picked_list_is_saved_without_typing_its_id(app: App, site: str) -> None:
    wanted = app.emulator.create_list("Picked here")
    with signed_in(site, "ada") as client:
        answer = client.post("/exports/new", data=form(list_pick=wanted, csrf_token=csrf_token(client, "/exports/new")))
    assert answer.status_code == 303, answer.text
    assert exports.show_export(app.store, name="Picked").list_id == wanted


def test_a_typed_id_wins_over_the_picker(app: App, site: str) -> None:
    typed, picked = app.emulator.create_list("Typed"), app.emulator.create_list("Picked")
    with signed_in(site, "ada") as client:
        token = csrf_token(client, "/exports/new")
        answer = client.post("/exports/new", data=form(list_id=typed, list_pick=picked, csrf_token=token))
    assert answer.status_code == 303, answer.text
    assert exports.show_export(app.store, name="Picked").list_id == typed


def test_create_list_makes_the_list_chooses_it_and_saves_nothing_yet(app: App, site: str) -> None:
    with signed_in(site, "cora") as client:
        token = csrf_token(client, "/exports/new")
        page = client.post("/exports/new", data=form(new_list="Spring launch", action="create_list", csrf_token=token))
    assert page.status_code == 200, page.text
    [created] = [record for record in app.emulator.world.lists.values() if record.name == "Spring launch"]
    assert f'value="{created.list_id}" data-members="0" selected' in page.text
    assert "Created the list &#39;Spring launch&#39;" in page.text
    assert 'value="Picked"' in page.text  # what was typed stays
    assert [view.name for view in exports.list_exports(app.store)] == ["OnPrivate", "OnShared"]


def test_create_list_with_a_taken_name_says_so_and_keeps_the_form(app: App, site: str) -> None:
    with signed_in(site, "ada") as client:
        token = csrf_token(client, "/exports/new")
        page = client.post("/exports/new", data=form(new_list="list onshared", action="create_list", csrf_token=token))
    assert page.status_code == 400
    assert "already has a list named &#39;List OnShared&#39;" in page.text
    assert 'value="list onshared"' in page.text


def test_a_contributor_cannot_create_a_list_through_a_private_connection(app: App, site: str) -> None:
    before = len(app.emulator.world.lists)
    with signed_in(site, "cora") as client:
        token = csrf_token(client, "/exports/new")
        page = client.post(
            "/exports/new", data=form("Private", new_list="Sneaky", action="create_list", csrf_token=token)
        )
    assert page.status_code == 400 and "may not use the connection" in page.text
    assert len(app.emulator.world.lists) == before


def test_show_lists_brings_the_chosen_connections_lists(app: App, site: str) -> None:
    private_only = app.emulator.create_list("Private side")
    with signed_in(site, "ada") as client:
        token = csrf_token(client, "/exports/new")
        page = client.post("/exports/new", data=form("Private", action="show_lists", csrf_token=token))
    assert page.status_code == 200
    assert private_only in options(page.text)  # the emulator plays one account: every list shows


def test_when_constant_contact_cannot_list_the_form_says_so_and_the_id_can_be_typed(app: App, site: str) -> None:
    quick = app.reopen(retry_attempts=1)
    app.emulator.faults.add("getLists#1-20=503")
    with serving_app(create_app(quick.settings, quick.store, quick.http)) as base, signed_in(base, "ada") as client:
        page = client.get("/exports/new?connection=Shared").text
    app.emulator.faults.clear()
    assert "could not be read" in page and "type the list ID instead" in page
    assert 'id="list_id"' in page


def test_a_form_without_a_list_names_the_fix(app: App, site: str) -> None:
    with signed_in(site, "ada") as client:
        page = client.post("/exports/new", data=form(csrf_token=csrf_token(client, "/exports/new")))
    assert page.status_code == 400
    assert "No Constant Contact list was chosen" in page.text


def test_the_lists_answer_for_the_scripted_picker(app: App, site: str) -> None:
    with signed_in(site, "cora") as client:
        shared = client.get("/exports/lists", params={"connection": "Shared"})
        private = client.get("/exports/lists", params={"connection": "Private"})
    assert {item["name"] for item in shared.json()["lists"]} >= {"List OnShared", "List OnPrivate"}
    assert private.status_code == 400 and "may not use" in private.json()["error"]


def test_more_fields_are_saved_from_the_form_with_a_new_custom_field(app: App, site: str) -> None:
    mapping = {
        "map_source_0": "city",
        "map_target_0": "city",
        "map_source_1": "vip",
        "map_target_1": "cf:vip",
        "map_empty_1": "on",
        "map_source_2": "",
        "map_target_2": "",
        "create_custom_fields": "on",
    }
    wanted = app.emulator.create_list("Mapped here")
    with signed_in(site, "ada") as client:
        page = client.get("/exports/new").text
        assert 'id="map_source_1"' in page and '<option value="job_title">' in page  # two blank rows offered
        token = csrf_token(client, "/exports/new")
        answer = client.post("/exports/new", data=form(list_pick=wanted, csrf_token=token, **mapping))
        assert answer.status_code == 303, answer.text
        edit = client.get("/exports/Picked/edit").text
    saved = exports.show_export(app.store, name="Picked").fields
    assert [(item.source_field, item.target, item.send_empty) for item in saved] == [
        ("city", "city", False),
        ("vip", "cf:vip", True),
    ]
    assert "vip" in app.emulator.world.custom_fields
    assert 'value="cf:vip"' in edit and 'id="map_empty_1" name="map_empty_1" checked' in edit
    assert '<option value="cf:vip">' in edit  # the account's custom fields are offered


def test_a_half_filled_mapping_row_names_what_it_lacks_and_keeps_the_form(app: App, site: str) -> None:
    wanted = app.emulator.create_list("Half")
    with signed_in(site, "ada") as client:
        token = csrf_token(client, "/exports/new")
        page = client.post(
            "/exports/new",
            data=form(list_pick=wanted, csrf_token=token, map_source_0="city", map_target_0=""),
        )
    assert page.status_code == 400
    assert "A row of More fields has no contact property" in page.text
    assert '<option value="city" selected>' in page.text
    assert [view.name for view in exports.list_exports(app.store)] == ["OnPrivate", "OnShared"]


def test_a_missing_custom_field_is_refused_unless_creating_is_ticked(app: App, site: str) -> None:
    wanted = app.emulator.create_list("Missing")
    with signed_in(site, "ada") as client:
        token = csrf_token(client, "/exports/new")
        page = client.post(
            "/exports/new",
            data=form(list_pick=wanted, csrf_token=token, map_source_0="vip", map_target_0="cf:vip_level"),
        )
    assert page.status_code == 400 and "no custom field &#39;vip_level&#39;" in page.text
    # The fix in the form's own words (the CLI says --create-custom-fields, the API create_custom_fields).
    assert "Tick &#39;Create missing custom fields in Constant Contact&#39; under More fields" in page.text
    assert 'data-error-field="create_custom_fields"' in page.text and "--create" not in page.text
    assert app.emulator.world.custom_fields == {}
