"""Retries bounded by attempts AND total time, with full jitter. Tests pass `sleep_scale=0` instead of waiting."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from segport.clock import Clock, ManualClock, SystemClock


@dataclass
class RetryPolicy:
    attempts: int = 6
    total_seconds: float = 300.0
    base_delay: float = 1.0
    max_delay: float = 30.0
    # Waiting for 1,000 queued activities to drain takes minutes, not seconds.
    queue_delay: float = 30.0
    sleep_scale: float = 1.0
    clock: Clock = field(default_factory=SystemClock)
    random: random.Random = field(default_factory=random.Random)

    @classmethod
    def for_tests(cls, clock: Clock | None = None, attempts: int = 4) -> RetryPolicy:
        """The same decisions, no waiting: sleeping moves a manual clock instead of time passing."""
        return cls(attempts=attempts, clock=clock or ManualClock(), random=random.Random(0))

    def start(self) -> RetryState:
        return RetryState(self, self.clock.monotonic())


@dataclass
class RetryState:
    policy: RetryPolicy
    started: float
    attempt: int = 1

    def delay(self, *, queue: bool = False) -> float:
        base = self.policy.queue_delay if queue else self.policy.base_delay
        ceiling = min(
            self.policy.max_delay if not queue else self.policy.queue_delay * 4,
            base * 2 ** (self.attempt - 1),
        )
        # Full jitter: several workers backing off from the same 429 do not come back in step.
        return self.policy.random.uniform(base / 2, max(base / 2, ceiling))

    def wait_before_next(self, *, queue: bool = False) -> bool:
        """Sleep before the next attempt and return True, or return False when attempts or time are spent."""
        if self.attempt >= self.policy.attempts:
            return False
        delay = self.delay(queue=queue)
        elapsed = self.policy.clock.monotonic() - self.started
        if elapsed + delay * self.policy.sleep_scale > self.policy.total_seconds:
            return False
        self.policy.clock.sleep(delay * self.policy.sleep_scale)
        self.attempt += 1
        return True
