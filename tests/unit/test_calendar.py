"""Schedules across daylight-saving changes and week boundaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from segport.errors import InvalidInput
from segport.scheduling.calendar import fire_times, last_due, make_schedule, next_fire

OLD = datetime(2020, 1, 1, tzinfo=UTC)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def times(schedule_kwargs: dict[str, object], after: datetime, until: datetime) -> list[datetime]:
    schedule = make_schedule(**schedule_kwargs).model_copy(update={"created_at": OLD})  # type: ignore[arg-type]
    return list(fire_times(schedule, after, until))


def test_a_daily_time_that_does_not_exist_on_the_spring_change_fires_once_after_it() -> None:
    # Toronto moves from EST (-5) to EDT (-4) at 02:00 on Sunday 8 March 2026: 02:30 does not exist that day.
    fired = times(
        {"kind": "daily", "times": ["02:30"], "timezone": "America/Toronto"}, utc(2026, 3, 7), utc(2026, 3, 10)
    )
    assert fired == [utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7, 30), utc(2026, 3, 9, 6, 30)]


def test_a_daily_time_that_happens_twice_on_the_autumn_change_fires_once() -> None:
    # Back from EDT to EST at 02:00 on Sunday 1 November 2026: 01:30 happens twice that night.
    fired = times(
        {"kind": "daily", "times": ["01:30"], "timezone": "America/Toronto"}, utc(2026, 10, 31), utc(2026, 11, 3)
    )
    assert fired == [utc(2026, 10, 31, 5, 30), utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)]


def test_the_same_local_time_moves_in_utc_with_the_change() -> None:
    fired = times(
        {"kind": "daily", "times": ["06:00", "18:00"], "timezone": "America/Toronto"}, utc(2026, 3, 7), utc(2026, 3, 9)
    )
    assert fired == [utc(2026, 3, 7, 11), utc(2026, 3, 7, 23), utc(2026, 3, 8, 10), utc(2026, 3, 8, 22)]


def test_a_weekly_schedule_across_a_week_boundary() -> None:
    # Friday 6 November 2026 to Wednesday 11 November: Saturday and Monday, in that order.
    fired = times(
        {"kind": "weekly", "days": ["mon", "Saturday"], "times": ["23:00"], "timezone": "Europe/Paris"},
        utc(2026, 11, 6),
        utc(2026, 11, 11),
    )
    assert fired == [utc(2026, 11, 7, 22), utc(2026, 11, 9, 22)]


def test_cron_in_a_time_zone_agrees_with_the_daily_form_across_the_change() -> None:
    daily = times(
        {"kind": "daily", "times": ["02:30"], "timezone": "America/Toronto"}, utc(2026, 3, 6), utc(2026, 3, 11)
    )
    cron = times(
        {"kind": "cron", "cron": "30 2 * * *", "timezone": "America/Toronto"}, utc(2026, 3, 6), utc(2026, 3, 11)
    )
    assert cron == daily


def test_cron_every_half_hour_over_the_autumn_change_stays_in_order_without_repeats() -> None:
    fired = times(
        {"kind": "cron", "cron": "*/30 * * * *", "timezone": "America/Toronto"},
        utc(2026, 11, 1, 4),
        utc(2026, 11, 1, 8),
    )
    assert fired == sorted(set(fired))
    assert all(later - earlier >= timedelta(minutes=30) for earlier, later in pairwise(fired))
    assert fired[0] == utc(2026, 11, 1, 4, 30) and fired[-1] == utc(2026, 11, 1, 8)


def test_seconds_in_cron_for_fast_schedules() -> None:
    fired = times({"kind": "cron", "cron": "* * * * * */20"}, utc(2026, 1, 1), utc(2026, 1, 1, 0, 1))
    assert fired == [utc(2026, 1, 1, 0, 0, 20), utc(2026, 1, 1, 0, 0, 40), utc(2026, 1, 1, 0, 1)]


def test_last_due_ignores_moments_before_the_schedule_existed_and_outside_the_window() -> None:
    schedule = make_schedule(kind="daily", times=["06:00"]).model_copy(update={"created_at": utc(2026, 5, 2, 7)})
    assert last_due(schedule, utc(2026, 5, 2, 8), timedelta(days=3)) is None  # 06:00 that day was before it
    assert last_due(schedule, utc(2026, 5, 3, 6, 5), timedelta(minutes=10)) == utc(2026, 5, 3, 6)
    assert last_due(schedule, utc(2026, 5, 3, 7), timedelta(minutes=10)) is None
    assert next_fire(schedule, utc(2026, 5, 3, 7)) == utc(2026, 5, 4, 6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "daily", "times": ["6pm"]}, "is not a time of day"),
        ({"kind": "daily", "times": ["24:00"]}, "is not a time of day"),
        ({"kind": "daily", "times": []}, "needs at least one time"),
        ({"kind": "weekly", "times": ["06:00"]}, "needs at least one day"),
        ({"kind": "weekly", "times": ["06:00"], "days": ["someday"]}, "is not a day of the week"),
        ({"kind": "cron", "cron": "every day"}, "is not a cron expression"),
        ({"kind": "daily", "times": ["06:00"], "timezone": "Mars/Olympus"}, "is not an IANA time zone"),
        ({"kind": "daily", "times": ["06:00"], "timezone": "America"}, "'America' is not an IANA time zone"),
        ({"kind": "daily", "times": ["06:00"], "timezone": "x" * 100_000}, "'x{60}...' is not an IANA time zone"),
        ({"kind": "hourly", "times": ["06:00"]}, "is not a kind of schedule"),
    ],
)
def test_mistakes_are_named_with_the_fix(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        make_schedule(**kwargs)  # type: ignore[arg-type]
    assert caught.value.hint
