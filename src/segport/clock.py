"""Time as an injectable object, so rate budgets, token expiry and retries can be tested without waiting."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards."""

    def now(self) -> datetime:
        """The current wall-clock time, timezone-aware, in UTC."""

    def sleep(self, seconds: float) -> None:
        """Wait for the given number of seconds."""


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class ManualClock:
    """A clock that moves only when told to; `sleep` advances it instantly. Thread-safe."""

    def __init__(self, start: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._wall = start or datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
        self._monotonic = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        with self._lock:
            return self._monotonic

    def now(self) -> datetime:
        with self._lock:
            return self._wall

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        if seconds <= 0:
            return
        with self._lock:
            self._monotonic += seconds
            self._wall += timedelta(seconds=seconds)


def next_utc_midnight(moment: datetime) -> datetime:
    """The start of the next UTC day: when Constant Contact's daily request quota resets."""
    utc = moment.astimezone(UTC)
    return datetime(utc.year, utc.month, utc.day, tzinfo=UTC) + timedelta(days=1)


def as_utc(moment: datetime) -> datetime:
    """A time read back from the store, made timezone-aware: SQLite returns the UTC times it was given naive."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
