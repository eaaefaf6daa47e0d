"""Retries bounded by attempts AND total time, with full jitter. Tests pass `sleep_scale=0` instead of waiting.

A run waits out throttling and outages for as long as its waiting budget lasts (`WaitBudget`, shared by every
request of the run), with no cap on attempts; each wait is told to an observer, so the run can show what it
waits for. Everything else (a list check from the CLI, say) gives up after a few attempts.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Protocol

from segport.clock import Clock, ManualClock, SystemClock

THROTTLED = "throttled"  # 429 throttled, or the activity queue is full
OUTAGE = "outage"  # unreachable, or a 5xx answer
# Throttling clears within a second or two: backing off further only wastes the run's time.
THROTTLE_CEILING = 8.0


@dataclass(frozen=True)
class Waiting:
    """One wait before a retry: why, for which request, and how long."""

    reason: str  # THROTTLED or OUTAGE
    operation: str
    detail: str  # what Constant Contact (or the network) answered
    seconds: float
    attempt: int  # the attempt that failed
    budget_left: float | None  # seconds of waiting the run has left after this one


class WaitObserver(Protocol):
    def waiting(self, notice: Waiting) -> None: ...
    def recovered(self, operation: str, waited: float, attempts: int) -> None: ...


class WaitBudget:
    """How long one run may spend waiting, in all, for Constant Contact to answer again. Thread-safe."""

    def __init__(self, seconds: float) -> None:
        self.total = seconds
        self._spent = 0.0
        self._lock = threading.Lock()

    def left(self) -> float:
        with self._lock:
            return max(0.0, self.total - self._spent)

    def spend(self, seconds: float) -> None:
        with self._lock:
            self._spent += seconds


@dataclass
class RetryPolicy:
    attempts: int | None = 6  # None: as many as the time allows
    total_seconds: float = 300.0
    base_delay: float = 1.0
    max_delay: float = 30.0
    # Waiting for 1,000 queued activities to drain takes minutes, not seconds.
    queue_delay: float = 30.0
    sleep_scale: float = 1.0
    clock: Clock = field(default_factory=SystemClock)
    random: random.Random = field(default_factory=random.Random)
    budget: WaitBudget | None = None
    observer: WaitObserver | None = None

    @classmethod
    def for_tests(cls, clock: Clock | None = None, attempts: int = 4) -> RetryPolicy:
        """The same decisions, no waiting: sleeping moves a manual clock instead of time passing."""
        return cls(attempts=attempts, clock=clock or ManualClock(), random=random.Random(0))

    def start(self, operation: str = "") -> RetryState:
        return RetryState(self, self.clock.monotonic(), operation)


@dataclass
class RetryState:
    policy: RetryPolicy
    started: float
    operation: str = ""
    attempt: int = 1
    waited: float = 0.0

    def delay(self, *, queue: bool = False, reason: str = OUTAGE) -> float:
        base = self.policy.queue_delay if queue else self.policy.base_delay
        ceiling = self.policy.queue_delay * 4 if queue else self.policy.max_delay
        if reason == THROTTLED and not queue:
            ceiling = min(ceiling, THROTTLE_CEILING)
        ceiling = min(ceiling, base * 2 ** min(self.attempt - 1, 30))
        # Full jitter: several workers backing off from the same 429 do not come back in step.
        return self.policy.random.uniform(base / 2, max(base / 2, ceiling))

    def wait_before_next(self, *, queue: bool = False, reason: str = OUTAGE, detail: str = "") -> bool:
        """Sleep before the next attempt and return True, or return False when attempts or time are spent."""
        policy = self.policy
        if policy.attempts is not None and self.attempt >= policy.attempts:
            return False
        delay = self.delay(queue=queue, reason=reason) * policy.sleep_scale
        elapsed = policy.clock.monotonic() - self.started
        if elapsed + delay > policy.total_seconds:
            return False
        left = None
        if policy.budget is not None:
            left = policy.budget.left() - delay
            if left < 0:
                return False
            policy.budget.spend(delay)
        if policy.observer is not None:
            policy.observer.waiting(
                Waiting("throttled" if queue else reason, self.operation, detail, delay, self.attempt, left)
            )
        policy.clock.sleep(delay)
        self.waited += delay
        self.attempt += 1
        return True

    def succeeded(self) -> None:
        """Tell the observer the request went through, when it had to wait first."""
        if self.waited and self.policy.observer is not None:
            self.policy.observer.recovered(self.operation, self.waited, self.attempt)
