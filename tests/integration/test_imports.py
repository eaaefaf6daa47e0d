"""Bulk imports: what Constant Contact does with new, existing, unsubscribed, invalid and duplicate contacts."""

from __future__ import annotations

import orjson
import pytest

from segport.clock import ManualClock
from segport.constant_contact import Activity, json_import_batches
from segport.emulator import Emulator, EmulatorSettings
from segport.errors import ActivityTimedOut, BadRequest
from tests.support.harness import Harness


def import_rows(
    harness: Harness, list_ids: list[str], rows: list[tuple[str, str | None, str | None]]
) -> list[Activity]:
    activities = [harness.client.import_contacts_json(batch) for batch in json_import_batches(rows, list_ids)]
    done = harness.client.wait_for_activities([activity.activity_id for activity in activities])
    return [done[activity.activity_id] for activity in activities]


def test_new_contacts_join_the_list_with_implicit_permission(harness: Harness, emulator: Emulator) -> None:
    target = harness.client.create_list("Target").list_id
    [activity] = import_rows(harness, [target], [("Ana@Example.com", "Ana", "Sousa"), ("bo@example.com", None, None)])
    assert activity.state == "completed"
    assert activity.status.person_count == 2
    assert emulator.members(target) == ["ana@example.com", "bo@example.com"]
    contact = emulator.contact("ana@example.com")
    assert contact is not None
    assert contact["email_address"]["permission_to_send"] == "implicit"
    assert (contact["first_name"], contact["last_name"]) == ("Ana", "Sousa")


def test_existing_contacts_get_new_names_but_keep_their_permission(harness: Harness, emulator: Emulator) -> None:
    target = harness.client.create_list("Target").list_id
    import_rows(harness, [target], [("ana@example.com", "Ana", "Sousa")])
    emulator.world.contacts["ana@example.com"].permission = "explicit"
    import_rows(harness, [target], [("ANA@example.com", "Anabela", None)])
    contact = emulator.contact("ana@example.com")
    assert contact is not None
    assert (contact["first_name"], contact["last_name"]) == ("Anabela", "Sousa")
    assert contact["email_address"]["permission_to_send"] == "explicit"


def test_unsubscribed_contacts_are_not_added_and_are_counted(harness: Harness, emulator: Emulator) -> None:
    first = harness.client.create_list("First").list_id
    second = harness.client.create_list("Second").list_id
    import_rows(harness, [first], [("gone@example.com", "Gone", None), ("stay@example.com", None, None)])
    emulator.unsubscribe("gone@example.com")
    [activity] = import_rows(
        harness, [first, second], [("gone@example.com", None, None), ("stay@example.com", None, None)]
    )
    assert activity.status.cannot_add_to_list_count == 1
    assert emulator.members(first) == ["stay@example.com"]
    assert emulator.members(second) == ["stay@example.com"]
    contact = emulator.contact("gone@example.com")
    assert contact is not None and contact["email_address"]["permission_to_send"] == "unsubscribed"


def test_invalid_emails_are_correctable_errors_only_and_duplicates_are_merged(
    harness: Harness, emulator: Emulator
) -> None:
    target = harness.client.create_list("Target").list_id
    rows = [
        ("a@example.com", "A", None),
        ("not-an-email", None, None),
        ("A@EXAMPLE.COM", None, "Later"),
        ("b@example", None, None),
    ]
    [activity] = import_rows(harness, [target], rows)
    assert activity.status.items_total_count == 4
    assert activity.status.person_count == 1
    # The spec counts a malformed address as correctable, not also as an error.
    assert activity.status.error_count == 0 and activity.status.correctable_count == 2
    assert any("Row 2" in message for message in activity.error_messages)
    assert emulator.members(target) == ["a@example.com"]
    contact = emulator.contact("a@example.com")
    assert contact is not None and (contact["first_name"], contact["last_name"]) == ("A", "Later")


def test_a_csv_file_import_behaves_like_the_json_import(harness: Harness, emulator: Emulator) -> None:
    target = harness.client.create_list("Target").list_id
    content = "email,first_name,last_name\nzoe@example.com,Zoë,Ñúñez\nbad,,\n".encode()
    activity = harness.client.import_contacts_csv(content, [target])
    done = harness.client.wait_for_activities([activity.activity_id])[activity.activity_id]
    assert (done.status.person_count, done.status.error_count, done.status.correctable_count) == (1, 0, 1)
    contact = emulator.contact("zoe@example.com")
    assert contact is not None and contact["first_name"] == "Zoë"


def test_a_json_body_over_four_megabytes_is_cut_and_only_what_came_whole_is_imported(
    harness: Harness, emulator: Emulator
) -> None:
    target = harness.client.create_list("Target").list_id
    name = "é" * 50  # 100 bytes in UTF-8
    items = [{"email": f"user{i:05d}@example.com", "first_name": name, "last_name": name} for i in range(20_000)]
    # list_ids first, as a careless client might send it, so the cut only loses contacts.
    body = b'{"list_ids":' + orjson.dumps([target]) + b',"import_data":' + orjson.dumps(items) + b"}"
    assert len(body) > 4_000_000
    activity = harness.client.import_contacts_json(body)
    harness.client.wait_for_activities([activity.activity_id])
    imported = len(emulator.members(target))
    # Every item has the same length; count those that end at or before byte 4,000,000.
    header = body.index(b'"import_data":[') + len(b'"import_data":[')
    length = len(orjson.dumps(items[0]))
    whole = sum(1 for k in range(20_000) if header + k * (length + 1) + length <= 4_000_000)
    assert imported == whole
    assert 0 < imported < 20_000


def test_more_than_forty_thousand_contacts_in_one_body_is_refused(harness: Harness) -> None:
    target = harness.client.create_list("Target").list_id
    body = orjson.dumps({"import_data": [{"email": f"u{i}@x.io"} for i in range(40_001)], "list_ids": [target]})
    with pytest.raises(BadRequest, match="40,000"):
        harness.client.import_contacts_json(body)


class TestListsPerContact:
    @pytest.fixture
    def emulator_settings(self) -> EmulatorSettings:
        return EmulatorSettings(max_lists_per_contact=2)

    def test_a_contact_can_be_on_a_limited_number_of_lists(self, harness: Harness, emulator: Emulator) -> None:
        lists = [harness.client.create_list(f"L{n}").list_id for n in range(3)]
        import_rows(harness, lists[:2], [("many@example.com", None, None)])
        [activity] = import_rows(harness, lists[2:], [("many@example.com", None, None)])
        assert (activity.status.error_count, activity.status.correctable_count) == (1, 0)
        assert "at most 2 lists" in activity.error_messages[0]
        assert emulator.members(lists[2]) == []


class TestSlowActivities:
    @pytest.fixture
    def emulator_settings(self) -> EmulatorSettings:
        return EmulatorSettings(contacts_per_second=10.0, activity_start_delay=1.0, max_queued_activities=2)

    def test_activities_move_from_initialized_through_processing_to_completed(
        self, harness: Harness, emulator: Emulator, clock: ManualClock
    ) -> None:
        target = harness.client.create_list("Target").list_id
        rows = [(f"p{i}@example.com", None, None) for i in range(100)]
        [batch] = json_import_batches(rows, [target])
        created = harness.client.import_contacts_json(batch)
        assert created.state == "initialized" and created.percent_done == 0
        clock.advance(5)
        middle = harness.client.get_activity(created.activity_id)
        assert middle.state == "processing" and 0 < (middle.percent_done or 0) < 100
        assert emulator.members(target) == []  # effects land when the activity completes
        done = harness.client.wait_for_activities([created.activity_id])[created.activity_id]
        assert done.state == "completed" and done.percent_done == 100
        assert len(emulator.members(target)) == 100

    def test_a_full_queue_is_waited_out_and_the_import_goes_through(self, harness: Harness, emulator: Emulator) -> None:
        target = harness.client.create_list("Target").list_id
        activities = [
            harness.client.import_contacts_json(batch)
            for batch in json_import_batches(
                [(f"q{i}@example.com", None, None) for i in range(30)], [target], max_contacts=10
            )
        ]
        assert emulator.request_count("bulkImportContactsJSON", 429) >= 1
        harness.client.wait_for_activities([activity.activity_id for activity in activities])
        assert len(emulator.members(target)) == 30

    def test_waiting_gives_up_after_its_time_bound(self, harness: Harness) -> None:
        target = harness.client.create_list("Target").list_id
        [batch] = json_import_batches([(f"t{i}@example.com", None, None) for i in range(1000)], [target])
        activity = harness.client.import_contacts_json(batch)
        with pytest.raises(ActivityTimedOut, match="had not finished after 30 s"):
            harness.client.wait_for_activities([activity.activity_id], timeout_seconds=30)


def test_many_pending_activities_are_polled_with_one_listing(harness: Harness, emulator: Emulator) -> None:
    target = harness.client.create_list("Target").list_id
    rows = [(f"m{i}@example.com", None, None) for i in range(250)]
    activities = [
        harness.client.import_contacts_json(batch) for batch in json_import_batches(rows, [target], max_contacts=10)
    ]
    done = harness.client.wait_for_activities([activity.activity_id for activity in activities])
    assert len(done) == 25 and all(activity.state == "completed" for activity in done.values())
    assert emulator.request_count("getActivityStatusCollection") == 1
    assert emulator.request_count("getActivity") == 0


def test_activities_beyond_the_listed_pages_are_asked_for_one_by_one(harness: Harness, emulator: Emulator) -> None:
    target = harness.client.create_list("Target").list_id
    rows = [(f"o{i}@example.com", None, None) for i in range(30)]
    ids = [
        harness.client.import_contacts_json(batch).activity_id
        for batch in json_import_batches(rows, [target], max_contacts=10)
    ]
    # Two newer activities push the three older ones off a listing of one page of two.
    ids += [
        harness.client.import_contacts_json(batch).activity_id
        for batch in json_import_batches(rows[:2], [target], max_contacts=1)
    ]
    done = harness.client.wait_for_activities(ids, max_list_pages=1, list_page_size=2)
    assert set(done) == set(ids)
    assert emulator.request_count("getActivity") == 3
