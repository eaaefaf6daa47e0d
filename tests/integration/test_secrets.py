"""No access token, refresh token or client secret ever shows in an exception, a log line or a repr."""

from __future__ import annotations

import logging

import httpx
import pytest
from pydantic import SecretStr

from segport.clock import ManualClock
from segport.constant_contact import OAuthClient, RetryPolicy
from segport.emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator
from segport.errors import SegportError
from tests.conftest import BASE_URL
from tests.support.harness import Harness


def secrets_of(harness: Harness) -> list[str]:
    found = [DEFAULT_CLIENT_SECRET]
    for tokens in harness.saved_tokens:
        found.append(tokens.access_token.get_secret_value())
        if tokens.refresh_token is not None:
            found.append(tokens.refresh_token.get_secret_value())
    return found


def test_errors_logs_and_reprs_hold_no_secret(
    harness: Harness,
    emulator: Emulator,
    http: httpx.Client,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    emulator.authorization.revoke_access_tokens()
    harness.client.account_summary()  # a 401, a refresh, a replay
    emulator.faults.add("getAccountById#1-10=503", "createList#1=500", "getList#1=403")
    for action in (
        harness.client.account_summary,
        lambda: harness.client.create_list("x"),
        lambda: harness.client.get_list("04fe9a97-a579-43c5-bb1a-58ed29bf0a6a"),
    ):
        with pytest.raises(SegportError) as raised:
            action()
        texts += [
            str(raised.value),
            repr(raised.value),
            repr(raised.value.__cause__),
            repr(raised.value.__context__),
        ]
    emulator.authorization.revoke_grants()
    with pytest.raises(SegportError) as reauthorize:
        harness.client.account_summary()
    texts += [str(reauthorize.value), repr(reauthorize.value)]
    wrong = OAuthClient(
        http,
        auth_base=f"{BASE_URL}/oauth2/default/v1",
        client_id=DEFAULT_CLIENT_ID,
        client_secret=SecretStr("not-the-secret-" + DEFAULT_CLIENT_SECRET[::-1]),
        clock=clock,
        retry=RetryPolicy.for_tests(clock=clock),
    )
    clock.advance(1)  # the token endpoint takes one request a second
    with pytest.raises(SegportError) as refused:
        wrong.refresh(SecretStr(secrets_of(harness)[-1]))
    texts += [str(refused.value), repr(wrong)]
    texts += [
        repr(harness.client),
        repr(harness.keeper),
        repr(harness.oauth),
        repr(harness.client._auth),
        repr(harness.keeper.tokens),
        str(harness.keeper.tokens),
        caplog.text,
    ]
    assert len(harness.saved_tokens) == 2
    everything = "\n".join(texts)
    for secret in secrets_of(harness):
        assert secret not in everything
