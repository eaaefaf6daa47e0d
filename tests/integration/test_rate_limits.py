"""The emulator enforces Constant Contact's per-key limits, and the client's budget keeps inside them."""

from __future__ import annotations

import httpx
import pytest

from segport.clock import ManualClock
from segport.emulator import Emulator, EmulatorSettings
from segport.errors import QuotaExceeded
from tests.conftest import BASE_URL
from tests.support.harness import Harness


def bearer(harness: Harness) -> dict[str, str]:
    return {"Authorization": f"Bearer {harness.keeper.access_token()}"}


def test_a_fifth_request_within_one_second_is_throttled(
    harness: Harness, http: httpx.Client, clock: ManualClock
) -> None:
    clock.advance(5)
    answers = [http.get(f"{BASE_URL}/v3/account/summary", headers=bearer(harness)) for _ in range(5)]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 200, 429]
    assert answers[4].json() == {"error_key": "throttled", "error_message": "Too Many Requests"}
    clock.advance(1.0)
    assert http.get(f"{BASE_URL}/v3/account/summary", headers=bearer(harness)).status_code == 200


def test_the_client_budget_never_provokes_a_429(harness: Harness, emulator: Emulator) -> None:
    for _ in range(60):
        harness.client.account_summary()
    assert emulator.request_count("getAccountById", 200) == 60
    assert emulator.request_count(status=429) == 0


class TestDailyQuota:
    @pytest.fixture
    def emulator_settings(self) -> EmulatorSettings:
        return EmulatorSettings(requests_per_day=5)

    def test_the_daily_quota_answers_quota_exceeded_until_midnight_utc(
        self, harness: Harness, http: httpx.Client, clock: ManualClock
    ) -> None:
        for _ in range(5):
            clock.advance(1)
            assert http.get(f"{BASE_URL}/v3/account/summary", headers=bearer(harness)).status_code == 200
        over = http.get(f"{BASE_URL}/v3/account/summary", headers=bearer(harness))
        assert over.status_code == 429
        assert over.json()["error_key"] == "quota_exceeded"
        with pytest.raises(QuotaExceeded):
            harness.client.account_summary()
        clock.advance(86_400)
        assert harness.client.account_summary().organization_name


def test_requests_without_a_valid_token_are_unauthorized(http: httpx.Client) -> None:
    answer = http.get(f"{BASE_URL}/v3/account/summary", headers={"Authorization": "Bearer forged.token.value"})
    assert answer.status_code == 401
    assert answer.json() == {"error_key": "unauthorized", "error_message": "Unauthorized"}
    assert answer.headers["www-authenticate"] == "Bearer realm=api.cc.email"
