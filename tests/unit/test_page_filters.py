"""The pages' filters: moments shown in UTC whatever the store gave back, numbers grouped, names as one path
segment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from markupsafe import Markup

from segport.runs.history import RunView
from segport.web.pages import number, part, seconds, when


def test_a_moment_is_shown_in_utc_whether_naive_utc_or_in_another_zone() -> None:
    shown = '<time datetime="2026-03-01T22:30:05+00:00">2026-03-01 22:30 UTC</time>'
    naive = datetime(2026, 3, 1, 22, 30, 5)  # SQLite gives back the UTC time it was given, naive
    toronto = datetime(2026, 3, 1, 17, 30, 5, tzinfo=timezone(timedelta(hours=-5)))
    for moment in (naive, naive.replace(tzinfo=UTC), toronto):
        assert str(when(moment)) == shown, moment
    assert when(None) == "—"
    assert isinstance(when(naive), Markup)  # not escaped again by the template
    with_microseconds = datetime(2026, 3, 1, 22, 30, 5, 123456)  # isoformat adds them: not in the shown time
    assert str(when(with_microseconds)).endswith('+00:00">2026-03-01 22:30 UTC</time>')


def run_between(started: datetime | None, finished: datetime | None) -> RunView:
    queued = datetime(2026, 3, 1)
    return RunView(1, "Weekly", "Successful", "manual", "t", queued, started, finished, None, {}, [], [], 0)


def test_a_runs_duration_whatever_the_store_gave_back_and_shown_once_formatted() -> None:
    naive = datetime(2026, 3, 1, 22, 30, 5)
    later = naive + timedelta(seconds=42, microseconds=500_000)
    assert run_between(naive, later).duration_seconds == 42.5  # SQLite: both naive UTC
    assert run_between(naive.replace(tzinfo=UTC), later.replace(tzinfo=UTC)).duration_seconds == 42.5
    toronto = later.replace(tzinfo=UTC).astimezone(timezone(timedelta(hours=-5)))
    assert run_between(naive, toronto).duration_seconds == 42.5  # one naive, one aware: both taken as UTC
    assert run_between(naive, None).duration_seconds is None and run_between(None, later).duration_seconds is None
    assert seconds(42.5) == "42.5 s" and seconds(0.04) == "0.0 s" and seconds(None) == "—"


def test_numbers_are_grouped_and_names_are_one_path_segment() -> None:
    assert number(1234567) == "1,234,567" and number(None) == "—"
    assert part("a/b c") == "a%2Fb%20c"
