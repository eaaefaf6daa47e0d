import base64
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import orjson
from pydantic import SecretStr

from segport.constant_contact.oauth import (
    PkcePair,
    TokenSet,
    _jwt_expiry,
    authorization_url,
    make_pkce,
    pkce_challenge,
    token_expiry,
)


def test_the_pkce_challenge_matches_rfc_7636_appendix_b() -> None:
    assert (
        pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


def test_fresh_verifiers_are_long_random_and_never_shown() -> None:
    first, second = make_pkce(), make_pkce()
    assert first.verifier != second.verifier
    assert 43 <= len(first.verifier) <= 128
    assert first.challenge == pkce_challenge(first.verifier)
    assert first.verifier not in repr(first)


def test_the_authorization_url_asks_for_the_code_flow_with_pkce_state_and_scopes() -> None:
    url = authorization_url(
        auth_base="https://authz.constantcontact.com/oauth2/default/v1/",
        client_id="key",
        redirect_uri="http://127.0.0.1:8788/cb",
        state="xyz",
        code_challenge="abc",
    )
    parts = urlsplit(url)
    assert parts.path == "/oauth2/default/v1/authorize"
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    assert query == {
        "client_id": "key",
        "redirect_uri": "http://127.0.0.1:8788/cb",
        "response_type": "code",
        "scope": "account_read contact_data offline_access",
        "state": "xyz",
        "code_challenge": "abc",
        "code_challenge_method": "S256",
    }


def test_token_sets_never_show_their_tokens() -> None:
    tokens = TokenSet(
        access_token=SecretStr("access-abc"),
        refresh_token=SecretStr("refresh-def"),
        expires_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    for text in (repr(tokens), str(tokens), tokens.model_dump_json()):
        assert "access-abc" not in text and "refresh-def" not in text
    assert repr(PkcePair("v" * 50, "c")).count("v" * 50) == 0


def test_the_expiry_is_read_from_the_jwt_exp_claim_and_garbage_is_ignored() -> None:
    payload = base64.urlsafe_b64encode(orjson.dumps({"exp": 1_800_000_000})).rstrip(b"=").decode()
    assert _jwt_expiry(f"h.{payload}.s") == datetime.fromtimestamp(1_800_000_000, UTC)
    assert _jwt_expiry("opaque-token") is None
    assert _jwt_expiry("a.!!!.c") is None


def _jwt(claims: dict[str, object]) -> str:
    body = json.dumps(claims).encode()  # orjson refuses integers beyond 64 bits; a server may still send them
    return f"h.{base64.urlsafe_b64encode(body).rstrip(b'=').decode()}.s"


def test_an_expiry_no_date_can_hold_is_an_hour_from_now_not_an_error() -> None:
    """A token endpoint's answer with `exp` or `expires_in` beyond Python's dates (1e300, -1e300, 10**20)
    stopped the sign-in or the refresh with OverflowError; the token itself is usable."""
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    assert token_expiry(_jwt({"exp": 1_800_000_000}), 5, now) == datetime.fromtimestamp(1_800_000_000, UTC)
    assert token_expiry("opaque", 7200, now) == now + timedelta(hours=2)  # seconds, as OAuth2 says
    assert token_expiry("opaque", 1_800_000_000, now) == datetime.fromtimestamp(1_800_000_000, UTC)  # the SDK's
    for absurd in (10**20, -(10**20), 1e300, -1e300):
        assert token_expiry(_jwt({"exp": absurd}), None, now) == now + timedelta(hours=1)
        assert token_expiry("opaque", absurd, now) == now + timedelta(hours=1)
    assert token_expiry(_jwt({"exp": 10**20}), 600, now) == now + timedelta(minutes=10)  # expires_in next
    assert token_expiry("opaque", True, now) == token_expiry("opaque", "3600", now) == now + timedelta(hours=1)


def test_the_emulator_command_registers_the_redirect_uris_it_is_given() -> None:
    from segport.emulator.serve import EmulatorOptions, build_emulator
    from segport.emulator.settings import DEFAULT_REDIRECT_URIS

    default = build_emulator(EmulatorOptions()).settings
    assert default.redirect_uris == list(DEFAULT_REDIRECT_URIS) and not default.any_loopback_redirect
    given = build_emulator(EmulatorOptions(redirect_uris=["https://app.example/cb"], any_loopback_redirect=True))
    assert given.settings.redirect_uris == ["https://app.example/cb"] and given.settings.any_loopback_redirect
