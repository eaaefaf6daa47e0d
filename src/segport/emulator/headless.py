"""Sign in to an auto-approving emulator without a browser: follow the authorize redirect by hand.

Only the emulator approves without a person; against Constant Contact a browser is always needed.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from segport.constant_contact.oauth import OAuthClient, TokenSet, authorization_url, make_pkce, new_state
from segport.errors import ConfigurationError


def sign_in_headless(
    http: httpx.Client, oauth: OAuthClient, *, auth_base: str, client_id: str, redirect_uri: str
) -> TokenSet:
    """Run the authorization-code + PKCE flow against an emulator that approves at once."""
    pkce = make_pkce()
    state = new_state()
    url = authorization_url(
        auth_base=auth_base,
        client_id=client_id,
        redirect_uri=redirect_uri,
        state=state,
        code_challenge=pkce.challenge,
    )
    answer = http.get(url, follow_redirects=False)
    location = answer.headers.get("location", "")
    query = parse_qs(urlsplit(location).query)
    if answer.status_code != 302 or query.get("state") != [state] or "code" not in query:
        raise ConfigurationError(
            f"The authorization server did not approve the sign-in by itself (HTTP {answer.status_code}).",
            hint="Headless sign-in only works with the emulator started without --consent-page.",
        )
    return oauth.exchange_code(code=query["code"][0], redirect_uri=redirect_uri, code_verifier=pkce.verifier)
