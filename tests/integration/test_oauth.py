"""Sign-in, refresh and rotation against the emulated authorization server."""

from __future__ import annotations

import threading
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from segport.clock import ManualClock
from segport.constant_contact import OAuthClient, authorization_url, make_pkce
from segport.emulator import DEFAULT_CLIENT_ID, Emulator, EmulatorSettings
from segport.errors import ConfigurationError, ReauthorizationRequired
from tests.conftest import BASE_URL
from tests.support.harness import REDIRECT_URI, Harness, connect

AUTH = f"{BASE_URL}/oauth2/default/v1"


def authorize(http: httpx.Client, *, challenge: str, redirect_uri: str = REDIRECT_URI) -> httpx.Response:
    url = authorization_url(
        auth_base=AUTH,
        client_id=DEFAULT_CLIENT_ID,
        redirect_uri=redirect_uri,
        state="s1",
        code_challenge=challenge,
    )
    return http.get(url)


def code_from(answer: httpx.Response) -> str:
    assert answer.status_code == 302
    return parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]


def test_sign_in_with_code_and_pkce_gives_a_working_token_pair(harness: Harness) -> None:
    tokens = harness.keeper.tokens
    assert tokens.refresh_token is not None
    assert tokens.scope == "contact_data offline_access"
    assert harness.client.account_summary().organization_name == "Emulated Constant Contact account"


def test_an_authorization_code_works_once(harness: Harness, http: httpx.Client) -> None:
    pkce = make_pkce()
    code = code_from(authorize(http, challenge=pkce.challenge))
    harness.oauth.exchange_code(code=code, redirect_uri=REDIRECT_URI, code_verifier=pkce.verifier)
    with pytest.raises(ReauthorizationRequired, match="invalid_grant"):
        harness.oauth.exchange_code(code=code, redirect_uri=REDIRECT_URI, code_verifier=pkce.verifier)


def test_an_authorization_code_expires_after_five_minutes(
    harness: Harness, http: httpx.Client, clock: ManualClock
) -> None:
    pkce = make_pkce()
    code = code_from(authorize(http, challenge=pkce.challenge))
    clock.advance(301)
    with pytest.raises(ReauthorizationRequired):
        harness.oauth.exchange_code(code=code, redirect_uri=REDIRECT_URI, code_verifier=pkce.verifier)


def test_a_wrong_pkce_verifier_or_redirect_uri_is_refused(harness: Harness, http: httpx.Client) -> None:
    pkce = make_pkce()
    code = code_from(authorize(http, challenge=pkce.challenge))
    with pytest.raises(ReauthorizationRequired, match="PKCE"):
        harness.oauth.exchange_code(code=code, redirect_uri=REDIRECT_URI, code_verifier=make_pkce().verifier)
    code = code_from(authorize(http, challenge=pkce.challenge))
    with pytest.raises(ReauthorizationRequired, match="redirect_uri"):
        harness.oauth.exchange_code(code=code, redirect_uri="http://127.0.0.1:1/other", code_verifier=pkce.verifier)


def test_wrong_client_credentials_are_a_configuration_error(http: httpx.Client, clock: ManualClock) -> None:
    oauth = OAuthClient(
        http, auth_base=AUTH, client_id=DEFAULT_CLIENT_ID, client_secret=SecretStr("wrong"), clock=clock
    )
    with pytest.raises(ConfigurationError, match="SEGPORT_CC_CLIENT_SECRET"):
        oauth.refresh(SecretStr("anything"))


def test_missing_client_credentials_are_refused_before_any_request(http: httpx.Client) -> None:
    with pytest.raises(ConfigurationError, match="SEGPORT_CC_CLIENT_ID"):
        OAuthClient(http, auth_base=AUTH, client_id="", client_secret=SecretStr(""))


def test_an_unregistered_redirect_uri_gets_an_error_page_not_a_redirect(http: httpx.Client) -> None:
    answer = authorize(http, challenge=make_pkce().challenge, redirect_uri="https://attacker.example/cb")
    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert "Redirect URI mismatch" in answer.text


@pytest.fixture
def consent_settings() -> EmulatorSettings:
    return EmulatorSettings(auto_approve=False)


def test_the_consent_page_allows_or_denies(consent_settings: EmulatorSettings, clock: ManualClock) -> None:
    emulator = Emulator(consent_settings, clock=clock)
    from segport.emulator import EmulatorTransport

    with httpx.Client(transport=EmulatorTransport(emulator), base_url=BASE_URL) as http:
        page = authorize(http, challenge="c" * 43)
        assert page.status_code == 200
        assert "Allow access" in page.text and "contact_data" in page.text
        form = {
            "client_id": DEFAULT_CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "response_type": "code",
            "scope": "contact_data offline_access",
            "state": "s1",
            "code_challenge": "c" * 43,
            "code_challenge_method": "S256",
        }
        denied = http.post(f"{AUTH}/authorize", data={**form, "decision": "deny"})
        assert parse_qs(urlsplit(denied.headers["location"]).query) == {
            "error": ["access_denied"],
            "error_description": ["The user denied the request."],
            "state": ["s1"],
        }
        allowed = http.post(f"{AUTH}/authorize", data={**form, "decision": "allow"})
        assert "code" in parse_qs(urlsplit(allowed.headers["location"]).query)


def test_a_token_near_expiry_is_refreshed_and_persisted_before_it_is_used(
    harness: Harness, emulator: Emulator, clock: ManualClock
) -> None:
    seen_at_persist: list[int] = []
    original = harness.keeper._on_new_tokens
    harness.keeper._on_new_tokens = lambda tokens: (
        seen_at_persist.append(emulator.request_count()),  # type: ignore[method-assign]
        original(tokens),
    )
    before = emulator.request_count("getAccountById")
    clock.advance(86_400 - 200)  # inside the 300-second margin
    harness.client.account_summary()
    assert emulator.request_count("token", 200) == 2  # sign-in and one refresh
    assert len(harness.saved_tokens) == 2
    # When the new pair was persisted, the API request that uses it had not been sent yet.
    assert emulator.request_count("getAccountById") == before + 1
    assert seen_at_persist == [emulator.request_count() - 1]
    assert emulator.request_count(status=401) == 0


def test_a_401_refreshes_once_and_replays_the_request(harness: Harness, emulator: Emulator) -> None:
    emulator.authorization.revoke_access_tokens()
    assert harness.client.account_summary().organization_name
    assert emulator.request_count("getAccountById", 401) == 1
    assert emulator.request_count("getAccountById", 200) == 1
    assert emulator.request_count("token", 200) == 2


def test_two_401s_in_a_row_mean_the_connection_must_be_reauthorized(harness: Harness, emulator: Emulator) -> None:
    emulator.faults.add("getAccountById#1-2=401")
    with pytest.raises(ReauthorizationRequired, match="401"):
        harness.client.account_summary()


def test_rotating_refresh_tokens_are_single_use(harness: Harness, emulator: Emulator) -> None:
    first = harness.keeper.tokens.refresh_token
    assert first is not None
    emulator.authorization.revoke_access_tokens()
    harness.client.account_summary()
    second = harness.keeper.tokens.refresh_token
    assert second is not None and second.get_secret_value() != first.get_secret_value()
    with pytest.raises(ReauthorizationRequired, match="invalid_grant"):
        harness.oauth.refresh(first)


@pytest.fixture
def long_lived() -> EmulatorSettings:
    return EmulatorSettings(rotating_refresh_tokens=False)


def test_long_lived_refresh_tokens_keep_working(long_lived: EmulatorSettings, clock: ManualClock, contract) -> None:  # type: ignore[no-untyped-def]
    from segport.emulator import EmulatorTransport
    from tests.support.contract import ContractTransport

    emulator = Emulator(long_lived, clock=clock)
    with httpx.Client(transport=ContractTransport(EmulatorTransport(emulator), contract), base_url=BASE_URL) as http:
        harness = connect(http, BASE_URL, clock)
        refresh = harness.keeper.tokens.refresh_token
        assert refresh is not None
        for _ in range(3):
            emulator.authorization.revoke_access_tokens()
            clock.advance(2)
            harness.client.account_summary()
        assert harness.keeper.tokens.refresh_token == refresh
        assert harness.oauth.refresh(refresh).access_token


def test_an_invalid_grant_on_refresh_asks_for_reauthorization(harness: Harness, emulator: Emulator) -> None:
    emulator.authorization.revoke_grants()
    with pytest.raises(ReauthorizationRequired, match="reauthorize"):
        harness.client.account_summary()


def test_refresh_tokens_unused_for_180_days_expire(harness: Harness, clock: ManualClock) -> None:
    clock.advance(181 * 86_400)
    with pytest.raises(ReauthorizationRequired):
        harness.client.account_summary()


def test_two_threads_refreshing_one_connection_end_with_one_valid_pair(harness: Harness, emulator: Emulator) -> None:
    emulator.authorization.revoke_access_tokens()
    stale = harness.keeper.tokens.access_token.get_secret_value()
    barrier = threading.Barrier(2)
    results: list[str] = []
    failures: list[BaseException] = []

    def refresh() -> None:
        barrier.wait()
        try:
            results.append(harness.keeper.after_rejection(stale))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    assert results[0] == results[1]
    assert emulator.request_count("token", 200) == 2  # the sign-in and ONE refresh
    assert len(emulator.authorization.grants) == 1
    [live] = emulator.authorization.grants
    assert harness.keeper.tokens.refresh_token is not None
    assert harness.keeper.tokens.refresh_token.get_secret_value() == live
    assert harness.client.account_summary().organization_name


def test_a_throttled_token_endpoint_is_retried(harness: Harness, emulator: Emulator) -> None:
    emulator.faults.add("token#2-3=throttled")  # the sign-in was token request 1
    emulator.authorization.revoke_access_tokens()
    harness.client.account_summary()
    assert emulator.request_count("token", 429) == 2
    assert emulator.request_count("token", 200) == 2
