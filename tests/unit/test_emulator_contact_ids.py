"""The emulator's contact ids: UUID v4 text, as Constant Contact's, and never the same twice."""

from __future__ import annotations

import uuid

from segport.emulator.checks import UUID
from segport.emulator.world import _ContactIds


def test_contact_ids_are_uuid4_text_distinct_within_and_across_processes() -> None:
    first, second = _ContactIds(), _ContactIds()  # two emulator processes (or one restarted from its state)
    ids = [first() for _ in range(10_000)] + [second() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    for text in ids[:3] + ids[-3:]:
        assert UUID.match(text) and uuid.UUID(text).version == 4 and str(uuid.UUID(text)) == text
        assert uuid.UUID(text).variant == uuid.RFC_4122
