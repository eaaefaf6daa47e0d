import base64
from datetime import UTC, datetime
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


def test_the_emulator_command_registers_the_redirect_uris_it_is_given() -> None:
    from segport.emulator.serve import EmulatorOptions, build_emulator
    from segport.emulator.settings import DEFAULT_REDIRECT_URIS

    default = build_emulator(EmulatorOptions()).settings
    assert default.redirect_uris == list(DEFAULT_REDIRECT_URIS) and not default.any_loopback_redirect
    given = build_emulator(EmulatorOptions(redirect_uris=["https://app.example/cb"], any_loopback_redirect=True))
    assert given.settings.redirect_uris == ["https://app.example/cb"] and given.settings.any_loopback_redirect
