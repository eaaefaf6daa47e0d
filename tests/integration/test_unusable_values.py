"""Profile values no store index can hold must not fail a run: one such row would fail every run after it."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from segport.exports.normalize import MAX_SHOWN_EMAIL
from tests.support import exporting
from tests.support.app import App
from tests.support.exporting import ExportWorld


def _random_text(seed: int, length: int) -> str:
    # Random, not repeated: PostgreSQL compresses a repeated character's index entry below its limit.
    return "".join(random.Random(seed).choices("abcdefghijklmnopqrstuvwxyz0123456789", k=length))


def test_an_email_of_thousands_of_characters_is_named_cut_and_the_runs_succeed(
    app: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL refused the 9,000-character address in the skipped members' index (ProgramLimitExceeded) and
    the run failed; the rows now keep its first 319 characters and a mark."""
    long_address = _random_text(1, 9_000) + "@example.com"
    no_at_all = _random_text(2, 9_000)
    usual = exporting.email_of
    monkeypatch.setattr(
        exporting, "email_of", lambda number: {5: long_address, 6: no_at_all}.get(number) or usual(number)
    )
    app.connect("CC")
    world = ExportWorld(app, tmp_path, count=50)
    for attempt in ("first", "rerun"):
        view = world.run()
        assert view.status == "Successful", (attempt, view.message)
        rows = {key: (email, reason) for key, email, reason, _ in world.rows(view.id)}
        assert rows["k0005"] == (long_address[: MAX_SHOWN_EMAIL - 1] + "\u2026", "email_too_long")
        assert rows["k0006"] == (no_at_all[: MAX_SHOWN_EMAIL - 1] + "\u2026", "email_too_long")
    assert world.listed() == world.expected()
