"""The emulator's authorization server state: authorization codes, refresh-token grants, signed access tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson

from segport.clock import Clock
from segport.emulator.settings import EmulatorSettings

OFFLINE_ACCESS = "offline_access"


class GrantError(Exception):
    """An OAuth error answer: `error` and `error_description` as Okta-style servers send them."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


@dataclass
class AuthorizationCode:
    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str | None
    expires_at: datetime
    used: bool = False


@dataclass
class RefreshGrant:
    """One sign-in's chain of refresh tokens. With rotation, only the newest token in the chain works."""

    grant_id: str
    client_id: str
    scope: str
    current_token: str
    last_used: datetime
    revoked: bool = False
    issued: int = 1


@dataclass
class Authorization:
    settings: EmulatorSettings
    clock: Clock
    signing_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    codes: dict[str, AuthorizationCode] = field(default_factory=dict)
    grants: dict[str, RefreshGrant] = field(default_factory=dict)  # refresh token -> grant
    # Access tokens issued before this moment (epoch seconds) are refused: the "revoke" fault.
    revoked_before: float = 0.0

    def issue_code(self, *, client_id: str, redirect_uri: str, scope: str, code_challenge: str | None) -> str:
        code = secrets.token_urlsafe(24)
        self.codes[code] = AuthorizationCode(
            client_id=client_id,
            redirect_uri=redirect_uri,
            scope=scope,
            code_challenge=code_challenge,
            expires_at=self.clock.now() + timedelta(seconds=self.settings.authorization_code_seconds),
        )
        return code

    def redeem_code(self, *, code: str, client_id: str, redirect_uri: str, verifier: str | None) -> dict[str, object]:
        record = self.codes.get(code)
        if record is None or record.client_id != client_id:
            raise GrantError("invalid_grant", "The authorization code is invalid or has expired.")
        if record.used:
            raise GrantError("invalid_grant", "The authorization code is invalid or has expired.")
        record.used = True  # single use, even when the rest of the request is wrong
        if self.clock.now() > record.expires_at:
            raise GrantError("invalid_grant", "The authorization code is invalid or has expired.")
        if redirect_uri != record.redirect_uri:
            raise GrantError("invalid_grant", "The redirect_uri does not match the one of the authorization request.")
        if record.code_challenge is not None:
            if not verifier:
                raise GrantError("invalid_grant", "PKCE verification failed: code_verifier is missing.")
            digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
            expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
            if not hmac.compare_digest(expected, record.code_challenge):
                raise GrantError("invalid_grant", "PKCE verification failed.")
        grant_id = secrets.token_hex(8)
        refresh = self._new_refresh_token()
        grant = RefreshGrant(grant_id, client_id, record.scope, refresh, self.clock.now())
        if OFFLINE_ACCESS not in record.scope.split():
            # "offline_access is now required for returning refresh tokens": an access token alone.
            return self._token_response(grant, None)
        self.grants[refresh] = grant
        return self._token_response(grant, refresh)

    def refresh(self, *, refresh_token: str, client_id: str) -> dict[str, object]:
        grant = self.grants.get(refresh_token)
        idle = timedelta(days=self.settings.refresh_token_idle_days)
        if (
            grant is None
            or grant.revoked
            or grant.client_id != client_id
            or grant.current_token != refresh_token
            or self.clock.now() - grant.last_used > idle
        ):
            raise GrantError("invalid_grant", "The refresh token is invalid or expired.")
        grant.last_used = self.clock.now()
        if self.settings.rotating_refresh_tokens:
            # "generating a new set of tokens causes all previous refresh tokens to expire"
            new_token = self._new_refresh_token()
            del self.grants[refresh_token]
            grant.current_token = new_token
            grant.issued += 1
            self.grants[new_token] = grant
            return self._token_response(grant, new_token)
        return self._token_response(grant, refresh_token)

    def revoke_access_tokens(self) -> None:
        self.revoked_before = self.clock.now().timestamp() + 0.000001

    def revoke_grants(self) -> None:
        for grant in self.grants.values():
            grant.revoked = True
        self.revoke_access_tokens()

    def verify_access_token(self, token: str) -> tuple[str, frozenset[str]] | None:
        """The client id the token was issued to and its scopes, or None when it is forged, expired or revoked."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        signed = f"{parts[0]}.{parts[1]}".encode("ascii", "replace")
        expected = _b64(hmac.new(self.signing_key, signed, hashlib.sha256).digest())
        if not hmac.compare_digest(expected, parts[2]):
            return None
        try:
            claims = orjson.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        except (ValueError, orjson.JSONDecodeError):
            return None
        now = self.clock.now().timestamp()
        if claims.get("exp", 0) <= now or claims.get("iat_precise", 0) < self.revoked_before:
            return None
        scopes = claims.get("scp")
        return str(claims.get("cid")), frozenset(scopes if isinstance(scopes, list) else ())

    def _token_response(self, grant: RefreshGrant, refresh_token: str | None) -> dict[str, object]:
        now = self.clock.now().timestamp()
        lifetime = self.settings.access_token_seconds
        claims = {
            "ver": 1,
            "jti": secrets.token_hex(8),
            "iss": "segport-emulator",
            "aud": "https://api.cc.email/v3",
            "iat": int(now),
            "iat_precise": now,
            "exp": int(now) + lifetime,
            "cid": grant.client_id,
            "scp": grant.scope.split(),
            "sub": self.settings.account_email,
        }
        header = _b64(orjson.dumps({"alg": "HS256", "typ": "JWT"}))
        payload = _b64(orjson.dumps(claims))
        signature = _b64(hmac.new(self.signing_key, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        answer: dict[str, object] = {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "access_token": f"{header}.{payload}.{signature}",
            "scope": grant.scope,
        }
        if refresh_token is not None:
            answer["refresh_token"] = refresh_token
        return answer

    @staticmethod
    def _new_refresh_token() -> str:
        return secrets.token_urlsafe(32)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
