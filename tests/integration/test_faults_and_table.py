"""Every row of the status -> action table, and every fault kind of the emulator, seen through the client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from segport.clock import ManualClock
from segport.constant_contact import json_import_batches
from segport.emulator import Emulator
from segport.errors import (
    NotFound,
    PermissionDenied,
    QuotaExceeded,
    RequestRejected,
    TransientError,
    UnexpectedResponse,
)
from tests.support.harness import Harness

MISSING_ACTIVITY = "9b3a7a33-d0a5-4a2c-8a7e-000000000000"


def make_list(harness: Harness) -> str:
    return harness.client.create_list("Target").list_id


def import_one(harness: Harness, list_id: str, email: str = "a@example.com") -> str:
    [batch] = json_import_batches([(email, None, None)], [list_id])
    return harness.client.import_contacts_json(batch).activity_id


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_and_unavailable_answers_are_retried(harness: Harness, emulator: Emulator, status: int) -> None:
    target = make_list(harness)
    emulator.faults.add(f"imports#1-2={status}")
    activity_id = import_one(harness, target)
    assert emulator.request_count("bulkImportContactsJSON", status) == 2
    harness.client.wait_for_activities([activity_id])
    assert emulator.members(target) == ["a@example.com"]


def test_retries_are_bounded_and_end_in_a_transient_error(harness: Harness, emulator: Emulator) -> None:
    emulator.faults.add("getAccountById#1-100=503")
    with pytest.raises(TransientError, match="after 4 attempts") as failure:
        harness.client.account_summary()
    assert failure.value.status == 503
    assert emulator.request_count("getAccountById", 503) == 4


def test_a_500_is_retried_for_a_read(harness: Harness, emulator: Emulator) -> None:
    emulator.faults.add("getAccountById#1=500")
    assert harness.client.account_summary().organization_name
    assert emulator.request_count("getAccountById") == 2


def test_a_500_on_a_write_that_is_unsafe_to_repeat_fails_loudly_without_a_retry(
    harness: Harness, emulator: Emulator
) -> None:
    emulator.faults.add("createList#1=500")
    with pytest.raises(UnexpectedResponse):
        harness.client.create_list("Once only")
    assert emulator.request_count("createList") == 1


def test_throttling_is_backed_off_with_jitter_and_retried(
    harness: Harness, emulator: Emulator, clock: ManualClock
) -> None:
    emulator.faults.add("requests#1-3=throttled")
    clock.slept.clear()
    assert harness.client.account_summary().organization_name
    assert emulator.request_count("getAccountById", 429) == 3
    backoffs = [delay for delay in clock.slept if delay >= 0.5]
    assert len(backoffs) >= 3 and len(set(backoffs)) == len(backoffs)


def test_an_exhausted_daily_quota_stops_with_the_reset_time(
    harness: Harness, emulator: Emulator, clock: ManualClock
) -> None:
    emulator.faults.add("getAccountById#1=quota")
    with pytest.raises(QuotaExceeded) as stopped:
        harness.client.account_summary()
    tomorrow = clock.now().date() + timedelta(days=1)
    assert stopped.value.resets_at == datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=UTC)
    assert emulator.request_count("getAccountById") == 1


def test_a_full_activity_queue_is_waited_for(harness: Harness, emulator: Emulator, clock: ManualClock) -> None:
    target = make_list(harness)
    emulator.faults.add("imports#1-2=queue-full")
    clock.slept.clear()
    import_one(harness, target)
    assert emulator.request_count("bulkImportContactsJSON", 429) == 2
    assert max(clock.slept) >= 15.0  # a queue wait, not a throttle backoff


@pytest.mark.parametrize(
    ("status", "error", "operation"),
    [
        (400, RequestRejected, "getAccountById"),
        (403, PermissionDenied, "getAccountById"),
        (404, NotFound, "getAccountById"),
        (405, UnexpectedResponse, "getAccountById"),
        (409, RequestRejected, "getAccountById"),
        (415, RequestRejected, "getAccountById"),
        (418, UnexpectedResponse, "getAccountById"),
        (422, UnexpectedResponse, "getAccountById"),
    ],
)
def test_answers_that_cannot_succeed_unchanged_are_not_retried(
    harness: Harness, emulator: Emulator, status: int, error: type[Exception], operation: str
) -> None:
    emulator.faults.add(f"{operation}#1={status}")
    with pytest.raises(error) as raised:
        harness.client.account_summary()
    assert getattr(raised.value, "status", None) == status
    assert emulator.request_count(operation) == 1


def test_a_403_says_which_role_and_scope_are_needed(harness: Harness, emulator: Emulator) -> None:
    emulator.faults.add("getAccountById#1=403")
    with pytest.raises(PermissionDenied, match="Account Owner or Account Manager"):
        harness.client.account_summary()


def test_a_dropped_connection_is_retried_for_requests_safe_to_repeat(harness: Harness, emulator: Emulator) -> None:
    target = make_list(harness)
    emulator.faults.add("imports#1=drop", "imports#2=drop-after", "imports#3=timeout")
    activity_id = import_one(harness, target)
    harness.client.wait_for_activities([activity_id])
    assert emulator.request_count("bulkImportContactsJSON", 0) == 3
    assert emulator.members(target) == ["a@example.com"]  # imported twice (drop-after, timeout), listed once


def test_a_dropped_connection_on_a_write_unsafe_to_repeat_fails_without_a_retry(
    harness: Harness, emulator: Emulator
) -> None:
    emulator.faults.add("createList#1=drop-after")
    with pytest.raises(UnexpectedResponse, match="may or may not have taken effect"):
        harness.client.create_list("Maybe")
    assert emulator.request_count("createList") == 1
    assert harness.client.find_list_by_name("Maybe") is not None  # it did take effect


def test_a_revoked_access_token_is_refreshed_mid_stream(harness: Harness, emulator: Emulator) -> None:
    target = make_list(harness)
    emulator.faults.add("requests#3=revoke")
    activity_ids = [import_one(harness, target, f"r{i}@example.com") for i in range(4)]
    harness.client.wait_for_activities(activity_ids)
    assert emulator.request_count("bulkImportContactsJSON", 401) == 1
    assert emulator.request_count("token", 200) == 2
    assert len(emulator.members(target)) == 4


@pytest.mark.parametrize("ending", ["failed", "timed_out", "cancelled"])
def test_an_activity_can_be_made_to_end_badly(harness: Harness, emulator: Emulator, ending: str) -> None:
    target = make_list(harness)
    emulator.faults.add(f"activities#2={ending}")
    first = import_one(harness, target, "one@example.com")
    second = import_one(harness, target, "two@example.com")
    done = harness.client.wait_for_activities([first, second])
    assert done[first].state == "completed"
    assert done[second].state == ending
    assert done[second].error_messages
    assert emulator.members(target) == ["one@example.com"]


def test_an_unknown_activity_is_not_found(harness: Harness) -> None:
    with pytest.raises(NotFound, match="activity_id"):
        harness.client.get_activity(MISSING_ACTIVITY)
