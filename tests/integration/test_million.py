"""A million contacts through the client into the emulator: the list ends holding exactly them."""

from __future__ import annotations

import pytest

from segport.constant_contact import json_import_batches
from segport.emulator import Emulator
from segport.profiles.generator import FIRST, LAST
from tests.support.harness import Harness


def contacts(count: int) -> list[tuple[str, str | None, str | None]]:
    return [
        (
            f"Member.{number}@Example{number % 97}.com",
            FIRST[number % 10] if number % 7 else None,
            LAST[number % 10] if number % 11 else None,
        )
        for number in range(count)
    ]


@pytest.mark.slow
def test_a_million_contacts_land_on_the_list_exactly(harness: Harness, emulator: Emulator) -> None:
    rows = contacts(1_000_000)
    target = harness.client.create_list("A million").list_id
    activity_ids = [
        harness.client.import_contacts_json(batch).activity_id for batch in json_import_batches(rows, [target])
    ]
    assert len(activity_ids) == 25  # the physical minimum: 40,000 contacts a request
    done = harness.client.wait_for_activities(activity_ids)
    assert all(activity.state == "completed" for activity in done.values())
    assert sum(activity.status.person_count or 0 for activity in done.values()) == 1_000_000
    members = emulator.members(target)
    assert len(members) == 1_000_000
    assert set(members) == {email.lower() for email, _, _ in rows}
    assert emulator.request_count(status=429) == 0
