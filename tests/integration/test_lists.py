"""Contact lists through the client: create, find, page, limits."""

import pytest

from segport.emulator import Emulator, EmulatorSettings
from segport.errors import BadRequest, Conflict, NotFound
from tests.support.harness import Harness


def test_a_created_list_can_be_read_back_with_its_member_count(harness: Harness) -> None:
    created = harness.client.create_list("VIP Ontario")
    read = harness.client.get_list(created.list_id)
    assert (read.list_id, read.name, read.membership_count) == (created.list_id, "VIP Ontario", 0)


def test_list_names_are_unique_and_the_conflict_says_what_to_do(harness: Harness) -> None:
    harness.client.create_list("Newsletter")
    with pytest.raises(Conflict) as conflict:
        harness.client.create_list("Newsletter")
    assert conflict.value.status == 409
    assert "already exists" in conflict.value.hint


def test_an_unknown_list_is_not_found(harness: Harness) -> None:
    with pytest.raises(NotFound) as missing:
        harness.client.get_list("0ce51e9e-47ee-4a4b-9bd4-6e3a2f1d0c11")
    assert missing.value.error_key == "contact_lists.api.not.found"


def test_listing_follows_next_links_across_pages(harness: Harness, emulator: Emulator) -> None:
    names = [f"List {number}" for number in range(7)]
    for name in names:
        harness.client.create_list(name)
    assert [item.name for item in harness.client.iter_lists(page_size=3)] == names
    assert emulator.request_count("getLists") == 3


def test_a_list_is_found_by_its_exact_name(harness: Harness) -> None:
    wanted = harness.client.create_list("Bought twice")
    harness.client.create_list("Bought twice, not in 90 days")
    found = harness.client.find_list_by_name("Bought twice")
    assert found is not None and found.list_id == wanted.list_id
    assert harness.client.find_list_by_name("bought twice") is None


class TestListCap:
    @pytest.fixture
    def emulator_settings(self) -> EmulatorSettings:
        return EmulatorSettings(max_lists=3)

    def test_the_account_list_cap_is_enforced(self, harness: Harness) -> None:
        for number in range(3):
            harness.client.create_list(f"L{number}")
        with pytest.raises(BadRequest, match="at most 3 lists"):
            harness.client.create_list("one too many")
