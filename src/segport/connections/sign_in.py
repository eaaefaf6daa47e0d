"""Signing in to Constant Contact from the command line: authorization code + PKCE with a local callback.

First the authorize URL is asked for without a browser: an authorization server that approves at once (the
emulator) answers with a redirect to our callback, and the sign-in completes by itself. Otherwise (Constant
Contact shows its sign-in page) the URL is printed and opened in a browser, and a one-shot HTTP server on
the redirect URI's port receives the code.
"""

from __future__ import annotations

import html
import threading
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx

from segport.config import Settings
from segport.constant_contact.oauth import OAuthClient, TokenSet, authorization_url, make_pkce, new_state
from segport.errors import InvalidInput, ReauthorizationRequired


@dataclass
class _Answer:
    query: dict[str, str] = field(default_factory=dict)
    arrived: threading.Event = field(default_factory=threading.Event)


def sign_in(
    oauth: OAuthClient,
    http: httpx.Client,
    *,
    auth_base: str,
    client_id: str,
    redirect_uri: str,
    announce: Callable[[str], None],
    open_browser: bool = True,
    timeout_seconds: float = 300.0,
) -> TokenSet:
    """Tokens for a person's consent on Constant Contact's sign-in page (or the emulator's, at once)."""
    pkce = make_pkce()
    state = new_state()
    url = authorization_url(
        auth_base=auth_base, client_id=client_id, redirect_uri=redirect_uri, state=state, code_challenge=pkce.challenge
    )
    query = _try_without_browser(http, url, redirect_uri)
    if query is None:
        query = _wait_for_browser(url, redirect_uri, announce, open_browser, timeout_seconds)
    if query.get("state") != state:
        raise InvalidInput(
            "The sign-in answer does not belong to this sign-in (state mismatch).",
            hint="Start the sign-in again; use the link printed by this command only.",
        )
    if "error" in query:
        raise ReauthorizationRequired(
            f"Constant Contact did not grant access: {query['error']} ({query.get('error_description', '')}).",
            hint="Sign in again and choose Allow.",
        )
    if "code" not in query:
        raise InvalidInput("The sign-in answer carries no authorization code.", hint="Start the sign-in again.")
    return oauth.exchange_code(code=query["code"], redirect_uri=redirect_uri, code_verifier=pkce.verifier)


def _try_without_browser(http: httpx.Client, url: str, redirect_uri: str) -> dict[str, str] | None:
    try:
        answer = http.get(url, follow_redirects=False, timeout=15)
    except httpx.TransportError:
        return None
    if answer.status_code == 400:
        # The authorization server refuses the request itself (Okta answers an unregistered redirect URI or an
        # unknown client id this way): a browser would show the same error page, so say it here.
        raise InvalidInput(
            f"Constant Contact's sign-in page refused the request (HTTP 400) for the redirect URI {redirect_uri}.",
            hint="Register exactly that redirect URI for the application in Constant Contact's developer portal (or "
            "set SEGPORT_CC_REDIRECT_URI to one that is registered), and check SEGPORT_CC_CLIENT_ID.",
        )
    location = answer.headers.get("location", "")
    if answer.status_code in (302, 303) and location.startswith(redirect_uri):
        return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}
    return None


def _wait_for_browser(
    url: str, redirect_uri: str, announce: Callable[[str], None], open_browser: bool, timeout_seconds: float
) -> dict[str, str]:
    target = urlsplit(redirect_uri)
    if target.hostname not in ("127.0.0.1", "localhost") or target.port is None:
        raise InvalidInput(
            f"The redirect URI {redirect_uri} is not a local address with a port, so this command cannot receive "
            "the sign-in answer.",
            hint="Set SEGPORT_CC_REDIRECT_URI to e.g. http://127.0.0.1:8788/oauth/callback and register it in "
            "Constant Contact's developer portal.",
        )
    answer = _Answer()

    class Callback(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path != target.path:
                self.send_error(404)
                return
            answer.query = {key: values[0] for key, values in parse_qs(parts.query).items()}
            done = "error" not in answer.query
            body = (
                "<h1>Signed in</h1><p>You can close this window and return to segport.</p>"
                if done
                else f"<h1>Not signed in</h1><p>{html.escape(answer.query.get('error', ''))}</p>"
            )
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body.encode())
            answer.arrived.set()

        def log_message(self, format: str, *args: object) -> None:
            return

    try:
        server = HTTPServer((target.hostname, target.port), Callback)
    except OSError as exc:
        raise InvalidInput(
            f"Cannot listen on {target.hostname}:{target.port} for the sign-in answer ({exc}).",
            hint="Free that port, or register another redirect URI and set SEGPORT_CC_REDIRECT_URI.",
        ) from None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        announce(f"Sign in to Constant Contact to allow segport access:\n  {url}")
        if open_browser:
            webbrowser.open(url)
        if not answer.arrived.wait(timeout_seconds):
            raise InvalidInput(
                f"No answer from the sign-in page within {timeout_seconds:.0f} seconds.",
                hint="Run the command again and finish signing in within that time.",
            )
    finally:
        server.shutdown()
        server.server_close()
    return answer.query


def sign_in_with(
    settings: Settings, *, announce: Callable[[str], None], open_browser: bool = True
) -> Callable[[OAuthClient, httpx.Client], TokenSet]:
    """The sign-in step of the connection wizard, for the settings' application and redirect URI."""

    def run(oauth: OAuthClient, http: httpx.Client) -> TokenSet:
        return sign_in(
            oauth,
            http,
            auth_base=settings.cc_auth_base,
            client_id=settings.cc_client_id or "",
            redirect_uri=settings.cc_redirect_uri,
            announce=announce,
            open_browser=open_browser,
            timeout_seconds=settings.sign_in_timeout_seconds,
        )

    return run
