"""Schedules and the moments they fire: daily, weekly on chosen days, or a cron expression, in a time zone.

Times are wall-clock times in the schedule's IANA time zone, turned into UTC one day at a time, so daylight
saving is handled by the time zone database: a time that does not exist on the day clocks go forward fires
once, at the same distance past the change (02:30 in Toronto on the March change is 03:30 EDT); a time that
happens twice on the day clocks go back fires once, the first time.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter
from pydantic import BaseModel, ConfigDict, Field

from segport.errors import InvalidInput

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["daily", "weekly", "cron"]
    times: tuple[str, ...] = ()  # "HH:MM", for daily and weekly
    days: tuple[str, ...] = ()  # of DAYS, for weekly
    cron: str | None = None  # five fields, or six with seconds last (croniter's form)
    timezone: str = "UTC"
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))  # no tick fires from before it

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def describe(self) -> str:
        if self.kind == "cron":
            return f"cron {self.cron!r} ({self.timezone})"
        times = ", ".join(self.times)
        if self.kind == "daily":
            return f"daily at {times} ({self.timezone})"
        return f"weekly on {', '.join(day.capitalize() for day in self.days)} at {times} ({self.timezone})"


# A schedule must fire within this many days of being saved (a cron date that never comes is a mistake).
NEXT_TIME_WITHIN_DAYS = 5 * 366


def make_schedule(
    *,
    kind: str,
    times: list[str] | None = None,
    days: list[str] | None = None,
    cron: str | None = None,
    timezone: str = "UTC",
) -> Schedule:
    """A checked schedule; every mistake is named with how to write it instead."""
    try:
        ZoneInfo(timezone)
    # A region's folder ("America") is a directory to zoneinfo (IsADirectoryError), and a long name is too long
    # for a file name: both OSError, which stopped the CLI and answered 500 on the page.
    except (ZoneInfoNotFoundError, ValueError, OSError):
        shown = timezone if len(timezone) <= 60 else f"{timezone[:60]}..."
        raise InvalidInput(
            f"{shown!r} is not an IANA time zone.", hint="Use a name such as America/Toronto, Europe/Paris or UTC."
        ) from None
    if kind == "cron":
        if not cron or len(cron) > 200 or not croniter.is_valid(cron):
            raise InvalidInput(
                f"{(cron or '')[:200]!r} is not a cron expression.",
                hint="Write five fields: minute hour day-of-month month day-of-week, e.g. '30 6 * * mon-fri'.",
            )
        schedule = Schedule(kind="cron", cron=cron.strip(), timezone=timezone)
        now = datetime.now(UTC)
        if next_fire(schedule, now, horizon_days=NEXT_TIME_WITHIN_DAYS) is None:
            raise InvalidInput(
                f"The cron expression {cron.strip()!r} never fires in the next {NEXT_TIME_WITHIN_DAYS // 365} years "
                "(a date that does not exist, such as 31 February?).",
                hint="Check the day-of-month and month fields, e.g. '0 0 28 2 *' for 28 February.",
            )
        return schedule
    if kind not in ("daily", "weekly"):
        raise InvalidInput(f"{kind!r} is not a kind of schedule.", hint="Use daily, weekly or cron.")
    checked_times = sorted({_check_time(value) for value in times or []})
    if not checked_times:
        raise InvalidInput(
            "A daily or weekly schedule needs at least one time.", hint="Add a time, e.g. 06:30.", field="times"
        )
    checked_days: list[str] = []
    if kind == "weekly":
        checked_days = sorted({_check_day(value) for value in days or []}, key=DAYS.index)
        if not checked_days:
            raise InvalidInput(
                "A weekly schedule needs at least one day.", hint="Add a day (mon ... sun).", field="days"
            )
    return Schedule(kind=kind, times=tuple(checked_times), days=tuple(checked_days), timezone=timezone)


def _check_time(value: str) -> str:
    match = _TIME.match(value.strip())
    if match is None:
        raise InvalidInput(f"{value!r} is not a time of day.", hint="Write it as HH:MM on a 24-hour clock, e.g. 18:30.")
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def _check_day(value: str) -> str:
    day = value.strip().lower()[:3]
    if day not in DAYS:
        raise InvalidInput(f"{value!r} is not a day of the week.", hint=f"Use one of: {', '.join(DAYS)}.")
    return day


def fire_times(schedule: Schedule, after: datetime, until: datetime) -> Iterator[datetime]:
    """The UTC moments in (after, until] at which the schedule fires, in order."""
    if schedule.kind == "cron":
        yield from _cron_times(schedule, after, until)
        return
    zone = schedule.zone
    day = after.astimezone(zone).date() - timedelta(days=1)
    last_day = until.astimezone(zone).date() + timedelta(days=1)
    seen: set[datetime] = set()
    while day <= last_day:
        if schedule.kind == "daily" or DAYS[day.weekday()] in schedule.days:
            for moment in sorted(_on_day(day, schedule.times, zone)):
                if after < moment <= until and moment not in seen:
                    seen.add(moment)
                    yield moment
        day += timedelta(days=1)


def _on_day(day: date, times: tuple[str, ...], zone: ZoneInfo) -> Iterator[datetime]:
    for value in times:
        hour, minute = (int(part) for part in value.split(":"))
        # fold=0: an ambiguous time is its first occurrence, a missing one keeps the offset before the change.
        yield datetime.combine(day, time(hour, minute), tzinfo=zone).astimezone(UTC)


def _cron_times(schedule: Schedule, after: datetime, until: datetime) -> Iterator[datetime]:
    zone = schedule.zone
    # More than any daylight-saving shift; none in UTC (which keeps second-level test schedules cheap).
    slack = timedelta(0) if schedule.timezone in ("UTC", "Etc/UTC") else timedelta(hours=3)
    assert schedule.cron is not None
    # Cron fields are wall-clock fields: iterate local times without an offset, then place each in the zone.
    # Placing can reorder moments near a change (and map two onto one), so they wait in a heap until the
    # iteration is past them by more than any shift.
    iterator = croniter(schedule.cron, after.astimezone(zone).replace(tzinfo=None) - slack, max_years_between_matches=5)
    waiting: list[datetime] = []
    seen: set[datetime] = set()
    while True:
        try:
            local: datetime = iterator.get_next(datetime)
        except CroniterError:  # no next time (31 February): the schedule never fires; it must not break others
            break
        moment = local.replace(tzinfo=zone).astimezone(UTC)
        if after < moment <= until and moment not in seen:
            seen.add(moment)
            heapq.heappush(waiting, moment)
        while waiting and waiting[0] <= moment - slack:
            yield heapq.heappop(waiting)
        if moment > until + slack:
            break
    while waiting:
        yield heapq.heappop(waiting)


def last_due(schedule: Schedule, now: datetime, window: timedelta) -> datetime | None:
    """The latest moment in (now - window, now] the schedule fires at, not before it was created."""
    since = max(now - window, schedule.created_at - timedelta(microseconds=1))
    latest = None
    for moment in fire_times(schedule, since, now):
        latest = moment
    return latest


def next_fire(schedule: Schedule, after: datetime, horizon_days: int = 400) -> datetime | None:
    return next(fire_times(schedule, after, after + timedelta(days=horizon_days)), None)
