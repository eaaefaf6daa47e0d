"""Finding contact ids in bulk and taking contacts off a list without unsubscribing them."""

from segport.constant_contact import json_import_batches
from segport.emulator import Emulator
from tests.support.harness import Harness


def fill(harness: Harness, list_id: str, count: int) -> None:
    rows = [(f"Member{i}@Example.com", None, None) for i in range(count)]
    activities = [harness.client.import_contacts_json(batch) for batch in json_import_batches(rows, [list_id])]
    harness.client.wait_for_activities([activity.activity_id for activity in activities])


def test_contact_ids_of_a_whole_list_cost_one_export(harness: Harness, emulator: Emulator) -> None:
    target = harness.client.create_list("Target").list_id
    fill(harness, target, 1_200)
    before = emulator.request_count()
    found = harness.client.contact_ids_by_email(target)
    assert len(found) == 1_200
    assert found["member7@example.com"] == emulator.world.contacts["member7@example.com"].contact_id
    assert emulator.request_count() - before == 3  # export, one poll, download


def test_a_few_contact_ids_are_looked_up_one_by_one(harness: Harness, emulator: Emulator) -> None:
    target = harness.client.create_list("Target").list_id
    other = harness.client.create_list("Other").list_id
    fill(harness, target, 5)
    fill(harness, other, 1)
    found = harness.client.contact_ids_by_email(
        target, ["member1@example.com", " MEMBER2@example.com", "nobody@example.com"]
    )
    assert set(found) == {"member1@example.com", "member2@example.com"}
    assert emulator.request_count("getContacts") == 3
    assert emulator.request_count("postContactsExport") == 0
    # member0 of `other` exists, but it is not a member of `target`:
    emulator.world.remove_from_list(emulator.world.contacts["member0@example.com"], target)
    assert harness.client.contact_ids_by_email(target, ["member0@example.com"]) == {}


def test_removal_takes_contacts_off_the_list_in_requests_of_500_and_never_unsubscribes(
    harness: Harness, emulator: Emulator
) -> None:
    target = harness.client.create_list("Target").list_id
    keep = harness.client.create_list("Keep").list_id
    fill(harness, target, 1_300)
    fill(harness, keep, 10)
    ids = harness.client.contact_ids_by_email(target)
    leaving = [ids[f"member{i}@example.com"] for i in range(1_200)]
    activities = harness.client.remove_list_memberships([target], leaving)
    assert len(activities) == 3
    done = harness.client.wait_for_activities([activity.activity_id for activity in activities])
    assert sum(activity.status.items_completed_count or 0 for activity in done.values()) == 1_200
    assert emulator.members(target) == [f"member{i}@example.com" for i in range(1_200, 1_300)]
    assert len(emulator.members(keep)) == 10  # the other list keeps its members
    contact = emulator.contact("member0@example.com")
    assert contact is not None and contact["email_address"]["permission_to_send"] == "implicit"


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
