"""The pages' filters: moments shown in UTC whatever the store gave back, numbers grouped, names as one path
segment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from markupsafe import Markup

from segport.web.pages import number, part, when


def test_a_moment_is_shown_in_utc_whether_naive_utc_or_in_another_zone() -> None:
    shown = '<time datetime="2026-03-01T22:30:05+00:00">2026-03-01 22:30 UTC</time>'
    naive = datetime(2026, 3, 1, 22, 30, 5)  # SQLite gives back the UTC time it was given, naive
    toronto = datetime(2026, 3, 1, 17, 30, 5, tzinfo=timezone(timedelta(hours=-5)))
    for moment in (naive, naive.replace(tzinfo=UTC), toronto):
        assert str(when(moment)) == shown, moment
    assert when(None) == "—"
    assert isinstance(when(naive), Markup)  # not escaped again by the template


def test_numbers_are_grouped_and_names_are_one_path_segment() -> None:
    assert number(1234567) == "1,234,567" and number(None) == "—"
    assert part("a/b c") == "a%2Fb%20c"
