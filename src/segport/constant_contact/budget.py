"""Request budgets: Constant Contact allows 4 requests/s and 10,000/day per API key, 1/s on the token endpoint.

A budget is asked for a slot before every request. It waits (on its injected clock) when the per-second
window is full, and refuses with `QuotaExceeded` once the day's requests are spent, so segport never
provokes a 429 it could have predicted. Issue-level callers share one budget per API key.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Protocol

from segport.clock import Clock, SystemClock, next_utc_midnight
from segport.errors import QuotaExceeded


class RequestBudget(Protocol):
    def acquire(self, operation: str) -> None:
        """Block until one request may be sent; raise QuotaExceeded when none may be sent today."""


class RateBudget:
    """A sliding one-second window plus a daily counter that resets at 00:00 UTC. Thread-safe.

    `margin` widens the window a little: requests leave here spaced by the window, but arrive at Constant
    Contact after varying network delays, and a request that arrives early must not make five in a second.
    """

    def __init__(
        self,
        *,
        per_second: float = 4.0,
        per_day: int | None = 10_000,
        clock: Clock | None = None,
        margin: float = 0.05,
    ) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self._clock = clock or SystemClock()
        # A rate below 1/s (say 0.5) becomes one request per 2-second window.
        self._slots = max(1, int(per_second))
        self._window = (self._slots / per_second) + margin
        self._per_day = per_day
        self._sent: deque[float] = deque()
        self._day = self._clock.now().date()
        self._today = 0
        self._lock = threading.Lock()

    @property
    def used_today(self) -> int:
        with self._lock:
            return self._today

    def acquire(self, operation: str = "") -> None:
        with self._lock:
            self._roll_day()
            if self._per_day is not None and self._today >= self._per_day:
                resets_at = next_utc_midnight(self._clock.now())
                raise QuotaExceeded(
                    f"segport has used all {self._per_day:,} requests allowed today for this API key.",
                    resets_at=resets_at,
                    operation=operation,
                )
            now = self._clock.monotonic()
            while self._sent and now - self._sent[0] >= self._window:
                self._sent.popleft()
            start = now
            if len(self._sent) >= self._slots:
                # Reserve the moment the oldest request leaves the window; later callers queue behind it.
                start = self._sent[-self._slots] + self._window
            self._sent.append(start)
            self._today += 1
            wait = start - now
        if wait > 0:
            self._clock.sleep(wait)

    def _roll_day(self) -> None:
        today = self._clock.now().date()
        if today != self._day:
            self._day = today
            self._today = 0


class UnlimitedBudget:
    """No limit: for the emulator's own inspection calls and for tests that measure something else."""

    def acquire(self, operation: str = "") -> None:
        return None
