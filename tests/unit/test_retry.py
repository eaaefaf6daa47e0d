import random

from segport.clock import ManualClock
from segport.constant_contact.retry import OUTAGE, THROTTLE_CEILING, THROTTLED, RetryPolicy, WaitBudget, Waiting


def test_retries_stop_after_the_number_of_attempts() -> None:
    policy = RetryPolicy(attempts=3, total_seconds=10_000, clock=ManualClock(), random=random.Random(1))
    state = policy.start()
    assert state.wait_before_next()
    assert state.wait_before_next()
    assert not state.wait_before_next()
    assert state.attempt == 3


def test_retries_stop_when_the_total_time_would_be_exceeded() -> None:
    clock = ManualClock()
    policy = RetryPolicy(
        attempts=100, total_seconds=5.0, base_delay=2.0, max_delay=2.0, clock=clock, random=random.Random(2)
    )
    state = policy.start()
    while state.wait_before_next():
        pass
    assert clock.monotonic() - 1000.0 <= 5.0
    assert state.attempt < 100


def test_backoff_grows_with_jitter_inside_its_bounds() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=30.0, clock=ManualClock(), random=random.Random(3))
    state = policy.start()
    delays = []
    for attempt in range(1, 8):
        state.attempt = attempt
        delay = state.delay()
        assert 0.5 <= delay <= min(30.0, 2 ** (attempt - 1))
        delays.append(delay)
    assert len(set(delays)) == len(delays), "jitter: no two waits alike"


def test_waiting_for_the_activity_queue_takes_longer_than_a_throttle_backoff() -> None:
    policy = RetryPolicy(base_delay=1.0, queue_delay=30.0, clock=ManualClock(), random=random.Random(4))
    state = policy.start()
    assert state.delay(queue=True) >= 15.0
    assert state.delay() <= 1.0


def test_test_policy_never_sleeps_for_real() -> None:
    clock = ManualClock()
    policy = RetryPolicy.for_tests(clock=clock, attempts=5)
    state = policy.start()
    while state.wait_before_next():
        pass
    assert clock.slept and all(delay > 0 for delay in clock.slept)


class _Observer:
    def __init__(self) -> None:
        self.waits: list[Waiting] = []
        self.recoveries: list[tuple[str, float, int]] = []

    def waiting(self, notice: Waiting) -> None:
        self.waits.append(notice)

    def recovered(self, operation: str, waited: float, attempts: int) -> None:
        self.recoveries.append((operation, waited, attempts))


def test_a_run_waits_as_long_as_its_budget_lasts_whatever_the_attempts_and_tells_each_wait() -> None:
    clock = ManualClock()
    observer = _Observer()
    budget = WaitBudget(400.0)
    policy = RetryPolicy(
        attempts=None, total_seconds=10_000, clock=clock, random=random.Random(4), budget=budget, observer=observer
    )
    first = policy.start("bulkImportContactsJSON")
    for _ in range(40):  # far more than a bounded policy's 6 attempts
        assert first.wait_before_next(reason=THROTTLED, detail="429 throttled")
    first.succeeded()
    assert all(notice.seconds <= THROTTLE_CEILING for notice in observer.waits)  # throttling never waits long
    assert observer.recoveries == [("bulkImportContactsJSON", first.waited, 41)]
    second = policy.start("getActivity")  # the budget is the run's: what the first request spent is gone
    while second.wait_before_next(reason=OUTAGE, detail="503"):
        pass
    assert budget.left() < policy.max_delay and clock.monotonic() - 1000.0 <= 400.0  # spent, and never more
    assert observer.waits[-1].budget_left is not None and observer.waits[-1].budget_left >= 0
    assert {notice.reason for notice in observer.waits} == {THROTTLED, OUTAGE}
