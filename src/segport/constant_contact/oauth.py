"""OAuth2 with Constant Contact's authorization server: authorization code + PKCE (S256), refresh, rotation.

`TokenKeeper` holds one connection's tokens. It refreshes when the access token is near expiry or after a
401, one refresh at a time per connection, and hands every new pair to a persistence callback BEFORE it is
used: with rotating refresh tokens the old refresh token dies the moment a new one is issued, so a pair that
was used but not stored would lock the connection out. Processes that share a connection coordinate through
`SharedTokens` (the database): one refreshes, the others read the pair it stored.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from collections.abc import Callable, Generator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from urllib.parse import urlencode

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, SecretStr

from segport.clock import Clock, SystemClock
from segport.constant_contact.budget import RateBudget, RequestBudget
from segport.constant_contact.responses import parse_error_body
from segport.constant_contact.retry import RetryPolicy
from segport.errors import ConfigurationError, ReauthorizationRequired, TransientError, UnexpectedResponse

# contact_data: every contact, list and bulk activity operation declares it. account_read: GET /account/summary
# (how segport learns which account signed in) declares it. offline_access: without it no refresh token comes back.
SCOPES = ("account_read", "contact_data", "offline_access")


@dataclass(frozen=True)
class PkcePair:
    verifier: str
    challenge: str

    def __repr__(self) -> str:
        return "PkcePair(verifier=***, challenge=***)"


def make_pkce() -> PkcePair:
    """A fresh code verifier (43+ characters, RFC 7636) and its S256 challenge."""
    verifier = secrets.token_urlsafe(64)
    return PkcePair(verifier, pkce_challenge(verifier))


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def new_state() -> str:
    return secrets.token_urlsafe(32)


def authorization_url(*, auth_base: str, client_id: str, redirect_uri: str, state: str, code_challenge: str) -> str:
    """Where to send the person who signs in to Constant Contact."""
    query = urlencode(
        {
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": " ".join(SCOPES),
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }
    )
    return f"{auth_base.rstrip('/')}/authorize?{query}"


class TokenSet(BaseModel):
    """An access token, the refresh token that renews it, and when the access token expires."""

    model_config = ConfigDict(frozen=True)

    access_token: SecretStr
    refresh_token: SecretStr | None
    expires_at: datetime
    scope: str = ""
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret

    def expires_within(self, seconds: float, now: datetime) -> bool:
        return self.expires_at - now <= timedelta(seconds=seconds)


def _jwt_expiry(token: str) -> datetime | None:
    """The `exp` claim of a JWT access token, read without verifying it (we are not the resource server)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = orjson.loads(base64.urlsafe_b64decode(padded))
        exp = claims.get("exp") if isinstance(claims, dict) else None
    except (ValueError, orjson.JSONDecodeError):
        return None
    if isinstance(exp, int | float) and not isinstance(exp, bool):
        return _moment(exp)
    return None


TEN_YEARS = 10 * 365 * 86_400
UNKNOWN_EXPIRY = timedelta(hours=1)  # refreshed before then; a token that lives longer is only refreshed sooner


def token_expiry(access_token: str, expires_in: object, now: datetime) -> datetime:
    """When an access token expires: its JWT's `exp` when there is one, else `expires_in`, which is seconds in
    OAuth2 but a timestamp in Constant Contact's SDK (taken as one beyond ten years). A value no date can hold
    (1e300 seconds) or none at all is an hour from now, never an error: the answer gave a usable token."""
    found = _jwt_expiry(access_token)
    if found is None and isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
        found = _moment(expires_in if expires_in > TEN_YEARS else now.timestamp() + expires_in)
    return found or now + UNKNOWN_EXPIRY


def _moment(timestamp: float) -> datetime | None:
    """The moment of a Unix timestamp; None beyond the dates Python keeps (or the platform's time_t)."""
    try:
        return datetime.fromtimestamp(timestamp, UTC)
    except (OverflowError, ValueError, OSError):
        return None


def check_grant(tokens: TokenSet) -> None:
    """Refuse a sign-in whose grant lacks a refresh token or one of SCOPES (when the answer lists scopes)."""
    granted = set(tokens.scope.split())
    missing = [scope for scope in SCOPES if scope not in granted] if granted else []
    if tokens.refresh_token is None and "offline_access" not in missing:
        missing.append("offline_access")
    if missing:
        lost = (
            " (so no refresh token: the connection would stop within 24 hours)" if "offline_access" in missing else ""
        )
        raise ConfigurationError(
            f"Constant Contact granted this sign-in without {', '.join(missing)}{lost}.",
            hint=f"Allow the scopes {', '.join(SCOPES)} for the application in the developer portal; sign in again.",
        )


class OAuthClient:
    """Talks to the token endpoint (HTTP Basic client authentication, 1 request/s)."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        auth_base: str,
        client_id: str,
        client_secret: SecretStr,
        budget: RequestBudget | None = None,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
    ) -> None:
        if not client_id or not client_secret.get_secret_value():
            raise ConfigurationError(
                "The Constant Contact client id and secret are not set.",
                hint="Set SEGPORT_CC_CLIENT_ID and SEGPORT_CC_CLIENT_SECRET to your application's API key and "
                "secret (Constant Contact developer portal > My Applications).",
            )
        self._http = http
        self._token_url = f"{auth_base.rstrip('/')}/token"
        self._client_id = client_id
        self._client_secret = client_secret
        self._clock = clock or SystemClock()
        self._budget = budget or RateBudget(per_second=1.0, per_day=None, clock=self._clock)
        self._retry = retry or RetryPolicy(clock=self._clock)

    def __repr__(self) -> str:
        return f"OAuthClient(token_url={self._token_url!r}, client_id={self._client_id!r})"

    @property
    def client_id(self) -> str:
        """The API key: Constant Contact's rate limits count per API key."""
        return self._client_id

    def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str) -> TokenSet:
        """Trade an authorization code (valid 5 minutes, single use) for a token pair; a grant segport cannot keep
        using (no refresh token, or scopes missing) is refused now rather than failing a run tomorrow."""
        tokens = self._token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": code_verifier,
            }
        )
        check_grant(tokens)
        return tokens

    def refresh(self, refresh_token: SecretStr) -> TokenSet:
        """A new token pair for a refresh token; with rotating tokens the old refresh token dies now."""
        return self._token_request({"grant_type": "refresh_token", "refresh_token": refresh_token.get_secret_value()})

    def _token_request(self, form: dict[str, str]) -> TokenSet:
        state = self._retry.start()
        while True:
            self._budget.acquire("token")
            try:
                response = self._http.post(
                    self._token_url,
                    data=form,
                    auth=(self._client_id, self._client_secret.get_secret_value()),
                    headers={"Accept": "application/json"},
                )
            except httpx.TransportError as exc:
                # A token request that never got an answer is safe to repeat only before it reached the server.
                # After that, a rotating refresh token may already be spent; retrying shows which it is.
                if state.wait_before_next():
                    continue
                raise TransientError(
                    f"The Constant Contact token endpoint could not be reached ({type(exc).__name__}).",
                    operation="token",
                ) from None
            if response.status_code == 200:
                return self._parse_tokens(response)
            body = parse_error_body(response.content)
            if response.status_code == 429 or response.status_code >= 500:
                # The token endpoint takes 1 request/s. Whether a refused request counts toward that second is not
                # documented; the budget spaces this client's own tries a second apart, which gets through either way.
                if state.wait_before_next():
                    continue
                raise TransientError(
                    f"The Constant Contact token endpoint answered {response.status_code}.",
                    operation="token",
                    status=response.status_code,
                    error_key=body.error_key,
                    error_message=body.error_message,
                )
            if body.error_key in ("invalid_grant", "access_denied"):
                raise ReauthorizationRequired(
                    f"Constant Contact refused the sign-in grant ({body.error_key}: {body.error_message}).",
                    operation="token",
                    status=response.status_code,
                    error_key=body.error_key,
                    error_message=body.error_message,
                )
            if body.error_key in ("invalid_client", "unauthorized_client"):
                raise ConfigurationError(
                    f"Constant Contact refused the client credentials ({body.error_key}).",
                    hint="Check SEGPORT_CC_CLIENT_ID and SEGPORT_CC_CLIENT_SECRET against the developer portal.",
                )
            raise UnexpectedResponse(
                f"The Constant Contact token endpoint answered {response.status_code} "
                f"({body.error_key}: {body.error_message}).",
                operation="token",
                status=response.status_code,
                error_key=body.error_key,
                error_message=body.error_message,
            )

    def _parse_tokens(self, response: httpx.Response) -> TokenSet:
        try:
            payload = orjson.loads(response.content)
            access = str(payload["access_token"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise UnexpectedResponse(
                "The Constant Contact token endpoint answered 200 without an access token.", operation="token"
            ) from None
        refresh = payload.get("refresh_token")
        expires_at = token_expiry(access, payload.get("expires_in"), self._clock.now())
        return TokenSet(
            access_token=SecretStr(access),
            refresh_token=SecretStr(str(refresh)) if refresh else None,
            expires_at=expires_at,
            scope=str(payload.get("scope", "")),
            token_type=str(payload.get("token_type", "Bearer")),
        )


class SharedTokens(Protocol):
    """Where every process that uses one connection keeps its tokens, and the lock its refreshes take."""

    def current(self) -> TokenSet:
        """The token pair as stored now (another process may have refreshed it)."""

    def refreshing(self) -> AbstractContextManager[None]:
        """Held while one process refreshes; the others wait, then read what it stored."""


class TokenKeeper:
    """One connection's tokens. Refreshes are serialised: two threads that find the token stale refresh once,
    and with `shared` so are two processes (a rotating refresh token can be spent only once)."""

    def __init__(
        self,
        oauth: OAuthClient,
        tokens: TokenSet,
        *,
        on_new_tokens: Callable[[TokenSet], None],
        refresh_margin_seconds: float = 300.0,
        clock: Clock | None = None,
        shared: SharedTokens | None = None,
    ) -> None:
        self._oauth = oauth
        self._tokens = tokens
        self._on_new_tokens = on_new_tokens
        self._margin = refresh_margin_seconds
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._shared = shared

    def __repr__(self) -> str:
        return f"TokenKeeper(expires_at={self._tokens.expires_at.isoformat()})"

    @property
    def tokens(self) -> TokenSet:
        return self._tokens

    def access_token(self) -> str:
        """A usable access token, refreshed first when it expires within the margin."""
        tokens = self._tokens
        if tokens.expires_within(self._margin, self._clock.now()):
            tokens = self._refresh(stale=tokens.access_token.get_secret_value())
        return tokens.access_token.get_secret_value()

    def after_rejection(self, rejected: str) -> str:
        """The access token `rejected` got a 401: refresh (unless another thread already has) and return the new one."""
        return self._refresh(stale=rejected).access_token.get_secret_value()

    def _refresh(self, *, stale: str) -> TokenSet:
        with self._lock:
            if self._usable(self._tokens, stale):
                return self._tokens  # another thread refreshed while we waited for the lock
            if self._shared is None:
                return self._renew(self._tokens)
            with self._shared.refreshing():
                stored = self._shared.current()
                if self._usable(stored, stale):
                    self._tokens = stored  # another process refreshed: its pair is the one that works now
                    return stored
                return self._renew(stored)

    def _usable(self, tokens: TokenSet, stale: str) -> bool:
        return tokens.access_token.get_secret_value() != stale and not tokens.expires_within(
            self._margin, self._clock.now()
        )

    def _renew(self, current: TokenSet) -> TokenSet:
        if current.refresh_token is None:
            raise ReauthorizationRequired(
                "The connection has no refresh token, so its expired access token cannot be renewed.",
                operation="token",
            )
        fresh = self._oauth.refresh(current.refresh_token)
        if fresh.refresh_token is None:
            # Long-lived refresh tokens may come back without a new refresh token: keep the one we have.
            fresh = fresh.model_copy(update={"refresh_token": current.refresh_token})
        self._on_new_tokens(fresh)  # persisted before anyone uses it
        self._tokens = fresh
        return fresh


class BearerAuth(httpx.Auth):
    """httpx auth flow: add the access token; on one 401, refresh and replay the request once."""

    def __init__(self, keeper: TokenKeeper, budget: RequestBudget | None = None) -> None:
        self._keeper = keeper
        # The replay is one more API request: it takes a slot of the same budget as the first.
        self._budget = budget

    def __repr__(self) -> str:
        return "BearerAuth(***)"

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._keeper.access_token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            # The body of the refused answer is not needed; the replay's answer is what counts.
            fresh = self._keeper.after_rejection(token)
            request.headers["Authorization"] = f"Bearer {fresh}"
            if self._budget is not None:
                self._budget.acquire("replay after refresh")
            yield request
