"""A client wired to an emulator, the way segport wires it to Constant Contact, for tests and benchmarks."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
from pydantic import SecretStr

from segport.clock import Clock, ManualClock
from segport.connections.sign_in import sign_in as sign_in_flow
from segport.constant_contact import (
    BearerAuth,
    ConstantContactClient,
    OAuthClient,
    RateBudget,
    RetryPolicy,
    TokenKeeper,
    TokenSet,
)
from segport.emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

REDIRECT_URI = "http://127.0.0.1:8788/oauth/callback"


def sign_in(http: httpx.Client, oauth: OAuthClient, base_url: str) -> TokenSet:
    """The authorization-code + PKCE flow segport's wizard runs, against an emulator that approves at once."""
    return sign_in_flow(
        oauth,
        http,
        auth_base=f"{base_url}/oauth2/default/v1",
        client_id=DEFAULT_CLIENT_ID,
        redirect_uri=REDIRECT_URI,
        announce=lambda _text: None,
        open_browser=False,
        timeout_seconds=2,
    )


@dataclass
class Harness:
    http: httpx.Client
    oauth: OAuthClient
    keeper: TokenKeeper
    budget: RateBudget
    client: ConstantContactClient
    saved_tokens: list[TokenSet] = field(default_factory=list)


def connect(
    http: httpx.Client,
    base_url: str,
    clock: Clock,
    *,
    retry_attempts: int = 4,
    refresh_margin_seconds: float = 300.0,
    tokens: TokenSet | None = None,
) -> Harness:
    """A client signed in to the emulator at `base_url` (or using `tokens` from an earlier sign-in)."""
    # Backoffs sleep on a manual clock even when the budget runs on the real one: tests never wait for them.
    retry = RetryPolicy.for_tests(clock=clock if isinstance(clock, ManualClock) else None, attempts=retry_attempts)
    oauth = OAuthClient(
        http,
        auth_base=f"{base_url}/oauth2/default/v1",
        client_id=DEFAULT_CLIENT_ID,
        client_secret=SecretStr(DEFAULT_CLIENT_SECRET),
        retry=retry,
        clock=clock,
        budget=RateBudget(per_second=1.0, per_day=None, clock=clock),
    )
    tokens = tokens or sign_in(http, oauth, base_url)
    saved: list[TokenSet] = [tokens]
    keeper = TokenKeeper(
        oauth, tokens, on_new_tokens=saved.append, clock=clock, refresh_margin_seconds=refresh_margin_seconds
    )
    budget = RateBudget(clock=clock)
    client = ConstantContactClient(
        http,
        api_base=f"{base_url}/v3",
        auth=BearerAuth(keeper, budget),
        budget=budget,
        retry=retry,
        clock=clock,
    )
    return Harness(http, oauth, keeper, budget, client, saved)
