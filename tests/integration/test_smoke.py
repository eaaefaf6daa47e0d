from segport.emulator import Emulator
from tests.support.harness import Harness


def test_import_reaches_the_list(harness: Harness, emulator: Emulator) -> None:
    contact_list = harness.client.create_list("Smoke")
    from segport.constant_contact import json_import_batches

    activities = [
        harness.client.import_contacts_json(b)
        for b in json_import_batches([("A@x.com", "A", None)], [contact_list.list_id])
    ]
    harness.client.wait_for_activities([a.activity_id for a in activities])
    assert emulator.members(contact_list.list_id) == ["a@x.com"]
