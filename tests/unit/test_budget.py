from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segport.clock import ManualClock
from segport.constant_contact.budget import RateBudget
from segport.errors import QuotaExceeded


def send_times(budget: RateBudget, clock: ManualClock, gaps: list[float]) -> list[float]:
    times = []
    for gap in gaps:
        clock.advance(gap)
        budget.acquire("test")
        times.append(clock.monotonic())
    return times


def test_four_requests_go_at_once_and_the_fifth_waits_for_the_window() -> None:
    clock = ManualClock()
    budget = RateBudget(per_second=4, per_day=None, clock=clock, margin=0.05)
    times = send_times(budget, clock, [0, 0, 0, 0, 0])
    assert times[:4] == [times[0]] * 4
    assert times[4] - times[0] == pytest.approx(1.05)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=0.7), min_size=1, max_size=60))
def test_no_one_second_window_ever_holds_more_than_four_requests(gaps: list[float]) -> None:
    clock = ManualClock()
    budget = RateBudget(per_second=4, per_day=None, clock=clock, margin=0.0)
    times = send_times(budget, clock, gaps)
    for index in range(len(times) - 4):
        assert times[index + 4] - times[index] >= 1.0 - 1e-9


def test_the_token_endpoint_budget_allows_one_request_a_second() -> None:
    clock = ManualClock()
    budget = RateBudget(per_second=1, per_day=None, clock=clock, margin=0.0)
    times = send_times(budget, clock, [0, 0, 0])
    assert [round(t - times[0], 6) for t in times] == [0, 1, 2]


def test_the_daily_quota_refuses_with_the_reset_time_and_reopens_after_midnight_utc() -> None:
    clock = ManualClock(datetime(2026, 3, 7, 23, 59, 0, tzinfo=UTC))
    budget = RateBudget(per_second=4, per_day=3, clock=clock)
    send_times(budget, clock, [0, 0, 0])
    with pytest.raises(QuotaExceeded) as refused:
        budget.acquire("importContacts")
    assert refused.value.resets_at == datetime(2026, 3, 8, tzinfo=UTC)
    assert "00:00 UTC" in str(refused.value)
    clock.advance(timedelta(minutes=2).total_seconds())
    budget.acquire("importContacts")
    assert budget.used_today == 1


def test_a_rate_below_one_per_second_spaces_requests_further_apart() -> None:
    clock = ManualClock()
    budget = RateBudget(per_second=0.5, per_day=None, clock=clock, margin=0.0)
    times = send_times(budget, clock, [0, 0])
    assert times[1] - times[0] == pytest.approx(2.0)
