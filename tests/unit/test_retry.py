import random

from segport.clock import ManualClock
from segport.constant_contact.retry import RetryPolicy


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
