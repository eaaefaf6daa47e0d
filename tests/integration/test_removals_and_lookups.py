"""Finding who is on a list, and taking contacts off a list without unsubscribing them."""

from segport.constant_contact import json_import_batches
from segport.emulator import Emulator
from tests.support.harness import Harness


def fill(harness: Harness, list_id: str, count: int) -> None:
    rows = [(f"Member{i}@Example.com", None, None) for i in range(count)]
    activities = [harness.client.import_contacts_json(batch) for batch in json_import_batches(rows, [list_id])]
    harness.client.wait_for_activities([activity.activity_id for activity in activities])


def test_the_addresses_on_a_whole_list_cost_one_export_of_documented_fields(
    harness: Harness, emulator: Emulator
) -> None:
    target = harness.client.create_list("Target").list_id
    fill(harness, target, 1_200)
    before = emulator.request_count()
    found = harness.client.emails_on_list(target)
    assert len(found) == 1_200 and "member7@example.com" in found
    assert emulator.request_count() - before == 3  # export, one poll, download


def test_a_few_addresses_are_looked_up_one_by_one(harness: Harness, emulator: Emulator) -> None:
    target = harness.client.create_list("Target").list_id
    other = harness.client.create_list("Other").list_id
    fill(harness, target, 5)
    fill(harness, other, 1)
    found = harness.client.emails_on_list(target, ["member1@example.com", " MEMBER2@example.com", "nobody@example.com"])
    assert found == {"member1@example.com", "member2@example.com"}
    assert emulator.request_count("getContacts") == 3
    assert emulator.request_count("postContactsExport") == 0
    # member0 of `other` exists, but it is not a member of `target`:
    emulator.world.remove_from_list(emulator.world.contacts["member0@example.com"], target)
    assert harness.client.emails_on_list(target, ["member0@example.com"]) == set()


def test_members_of_a_temporary_list_leave_the_target_in_one_request_and_the_list_can_be_deleted(
    harness: Harness, emulator: Emulator
) -> None:
    target = harness.client.create_list("Target").list_id
    leaving = harness.client.create_list("Leaving").list_id
    fill(harness, target, 1_200)
    rows = [(f"member{i}@example.com", None, None) for i in range(0, 1_200, 2)]
    done = [harness.client.import_contacts_json(batch).activity_id for batch in json_import_batches(rows, [leaving])]
    harness.client.wait_for_activities(done)
    before = emulator.request_count("postListRemoveContact")
    removal = harness.client.remove_members_of_list(leaving, [target])
    harness.client.wait_for_activities([removal.activity_id])
    assert emulator.request_count("postListRemoveContact") - before == 1
    assert emulator.members(target) == [f"member{i}@example.com" for i in range(1, 1_200, 2)]
    deletion = harness.client.delete_list(leaving)
    assert harness.client.wait_for_activities([deletion.activity_id])[deletion.activity_id].state == "completed"
    assert harness.client.find_list_by_name("Leaving") is None
    contact = emulator.contact("member0@example.com")
    assert contact is not None and contact["list_memberships"] == []  # the contact stays, off both lists
