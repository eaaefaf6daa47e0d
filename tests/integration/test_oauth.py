"""Sign-in, refresh and rotation against the emulated authorization server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from segport.clock import ManualClock
from segport.connections.sign_in import sign_in as sign_in_flow
from segport.constant_contact import OAuthClient, authorization_url, make_pkce
from segport.emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator, EmulatorSettings, EmulatorTransport
from segport.errors import ConfigurationError, InvalidInput, ReauthorizationRequired
from tests.conftest import BASE_URL
from tests.support.harness import REDIRECT_URI, Harness, connect

AUTH = f"{BASE_URL}/oauth2/default/v1"


@contextmanager
def emulated(settings: EmulatorSettings, clock: ManualClock) -> Iterator[tuple[Emulator, httpx.Client]]:
    """An emulator with its own settings, and a client straight to it."""
    emulator = Emulator(settings, clock=clock)
    with httpx.Client(transport=EmulatorTransport(emulator), base_url=BASE_URL) as client:
        yield emulator, client


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
    assert tokens.scope == "account_read contact_data offline_access"
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
    with emulated(consent_settings, clock) as (_, http):
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


# -- documented OAuth behaviour the emulator must hold segport to --------------------------------------------


def _grant(http: httpx.Client, scope: str, *, redirect_uri: str = REDIRECT_URI) -> httpx.Response:
    pkce = make_pkce()
    query = {
        "client_id": DEFAULT_CLIENT_ID,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": scope,
        "state": "s1",
        "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
    }
    answer = http.get(f"{AUTH}/authorize", params=query)
    if "code=" not in answer.headers.get("location", ""):
        return answer
    return http.post(
        f"{AUTH}/token",
        data={
            "grant_type": "authorization_code",
            "code": code_from(answer),
            "redirect_uri": redirect_uri,
            "code_verifier": pkce.verifier,
        },
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
    )


def test_a_refresh_token_comes_only_with_offline_access(http: httpx.Client, clock: ManualClock) -> None:
    without = _grant(http, "account_read contact_data")
    assert without.status_code == 200 and "refresh_token" not in without.json()
    clock.advance(2)
    granted = _grant(http, "account_read contact_data offline_access")
    assert granted.status_code == 200 and granted.json()["refresh_token"]


def test_an_authorize_request_without_contact_data_is_not_refused_but_its_token_is(http: httpx.Client) -> None:
    answer = _grant(http, "offline_access")
    assert answer.status_code == 200
    token = answer.json()["access_token"]
    lists = http.get(f"{BASE_URL}/v3/contact_lists", headers={"Authorization": f"Bearer {token}"})
    assert lists.status_code == 403
    account = http.get(f"{BASE_URL}/v3/account/summary", headers={"Authorization": f"Bearer {token}"})
    assert account.status_code == 403  # account/summary declares account_read


def test_an_unknown_scope_is_sent_back_as_an_error(http: httpx.Client) -> None:
    answer = _grant(http, "contact_data everything")
    assert answer.status_code == 302
    assert parse_qs(urlsplit(answer.headers["location"]).query)["error"] == ["invalid_scope"]


@pytest.mark.parametrize(
    ("scope", "missing"),
    [
        ("account_read contact_data", "offline_access"),
        ("contact_data offline_access", "account_read"),
        ("account_read offline_access", "contact_data"),
    ],
)
def test_segport_refuses_a_sign_in_whose_grant_it_could_not_keep_using(
    http: httpx.Client, clock: ManualClock, scope: str, missing: str
) -> None:
    """The user can untick scopes, or the application may not allow them: say so at sign-in, not at tomorrow's
    refresh or the first 403 of a run."""
    oauth = OAuthClient(
        http, auth_base=AUTH, client_id=DEFAULT_CLIENT_ID, client_secret=SecretStr(DEFAULT_CLIENT_SECRET), clock=clock
    )
    pkce = make_pkce()
    url = authorization_url(
        auth_base=AUTH, client_id=DEFAULT_CLIENT_ID, redirect_uri=REDIRECT_URI, state="s", code_challenge=pkce.challenge
    )
    narrowed = url.replace("scope=account_read+contact_data+offline_access", "scope=" + scope.replace(" ", "+"))
    assert narrowed != url
    code = code_from(http.get(narrowed))
    with pytest.raises(ConfigurationError, match=missing) as refused:
        oauth.exchange_code(code=code, redirect_uri=REDIRECT_URI, code_verifier=pkce.verifier)
    assert "developer portal" in (refused.value.hint or "")


def test_redirect_uris_must_match_exactly(http: httpx.Client) -> None:
    for near in (
        "http://127.0.0.1:8789/oauth/callback",  # another port
        "http://localhost:8788/oauth/callback",  # another host name for the same address
        "http://127.0.0.1:8788/oauth/callback/",  # a trailing slash
        REDIRECT_URI + "?next=/admin",
    ):
        answer = authorize(http, challenge=make_pkce().challenge, redirect_uri=near)
        assert answer.status_code == 400, near
        assert "location" not in answer.headers


@pytest.fixture
def any_loopback() -> EmulatorSettings:
    return EmulatorSettings(any_loopback_redirect=True)


def test_any_loopback_redirect_is_an_opt_in(any_loopback: EmulatorSettings, clock: ManualClock) -> None:
    with emulated(any_loopback, clock) as (_, client):
        assert authorize(client, challenge="c" * 43, redirect_uri="http://127.0.0.1:40123/cb").status_code == 302
        assert authorize(client, challenge="c" * 43, redirect_uri="http://127.0.0.1:x/cb").status_code == 400
        assert authorize(client, challenge="c" * 43, redirect_uri="https://example.com/cb").status_code == 400


def _bad_refresh(http: httpx.Client) -> int:
    return http.post(
        f"{AUTH}/token",
        data={"grant_type": "refresh_token", "refresh_token": "unknown"},
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
    ).status_code


@pytest.mark.parametrize("refusals_count", [True, False])
def test_whether_refused_token_requests_count_is_a_setting(refusals_count: bool, clock: ManualClock) -> None:
    with emulated(EmulatorSettings(token_refusals_count=refusals_count), clock) as (_, client):
        assert _bad_refresh(client) == 400  # admitted (and refused for its grant)
        clock.advance(0.5)
        assert _bad_refresh(client) == 429
        clock.advance(0.7)  # 1.2 s after the admitted one, 0.7 s after the refused one
        assert _bad_refresh(client) == (429 if refusals_count else 400)


@pytest.mark.parametrize("refusals_count", [True, False])
def test_segport_gets_a_token_after_one_429_whether_refusals_count_or_not(
    refusals_count: bool, clock: ManualClock
) -> None:
    """Another process took the token endpoint's second: segport waits out a whole window after the 429, so the
    next try gets in under either reading of the limit (a retry inside the window would be refused again)."""
    with emulated(EmulatorSettings(token_refusals_count=refusals_count), clock) as (emulator, client):
        harness = connect(client, BASE_URL, clock)
        clock.advance(5)
        assert _bad_refresh(client) == 400  # the other process's request
        refresh_token = harness.keeper.tokens.refresh_token
        assert refresh_token is not None
        fresh = harness.oauth.refresh(refresh_token)
    assert fresh.access_token.get_secret_value()
    assert emulator.request_count("token", 429) == 1


def test_a_sign_in_from_an_unregistered_redirect_uri_says_which_to_register(http: httpx.Client) -> None:
    oauth = OAuthClient(
        http, auth_base=AUTH, client_id=DEFAULT_CLIENT_ID, client_secret=SecretStr(DEFAULT_CLIENT_SECRET)
    )
    with pytest.raises(InvalidInput, match="8799") as refused:
        sign_in_flow(
            oauth,
            http,
            auth_base=AUTH,
            client_id=DEFAULT_CLIENT_ID,
            redirect_uri="http://127.0.0.1:8799/oauth/callback",
            announce=lambda _text: None,
            open_browser=False,
            timeout_seconds=30,  # a wait for a browser would make this test slow: it must not wait
        )
    assert "developer portal" in (refused.value.hint or "")
