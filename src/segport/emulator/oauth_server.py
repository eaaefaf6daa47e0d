"""The emulated authorization server: /oauth2/default/v1/authorize (with a consent page) and /token."""

from __future__ import annotations

import base64
import binascii
import hmac
import html
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

from segport.emulator.authorization import GrantError
from segport.emulator.messages import Request, Response, html_response, json_response, redirect

if TYPE_CHECKING:
    from segport.emulator.core import Emulator

AUTH_PREFIX = "/oauth2/default/v1"
# The scopes of Constant Contact's scopes page and the spec's securityDefinitions. An authorize request may
# ask for any of them (even without contact_data: the service does not refuse that, the API answers 403 later);
# a name outside them is refused, as an Okta authorization server refuses scopes it does not know.
KNOWN_SCOPES = frozenset(
    {"account_read", "account_update", "contact_data", "campaign_data", "offline_access", "billing_data"}
)


def handle(emulator: Emulator, request: Request) -> Response | None:
    if request.path == f"{AUTH_PREFIX}/authorize" and request.method in ("GET", "POST"):
        return authorize(emulator, request)
    if request.path == f"{AUTH_PREFIX}/token" and request.method == "POST":
        return token(emulator, request)
    return None


def _redirect_allowed(emulator: Emulator, redirect_uri: str) -> bool:
    if redirect_uri in emulator.settings.redirect_uris:
        return True
    if not emulator.settings.any_loopback_redirect:
        return False
    try:
        parts = urlsplit(redirect_uri)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return False
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1") and not parts.fragment


def _error_page(status: int, title: str, detail: str) -> Response:
    return html_response(status, _page(title, f"<p>{html.escape(detail)}</p>"))


def authorize(emulator: Emulator, request: Request) -> Response:
    params = request.form()
    client_id = params.get("client_id", "")
    redirect_uri = params.get("redirect_uri", "")
    if client_id != emulator.settings.client_id:
        return _error_page(400, "Unknown application", "The client_id is not registered with this account.")
    if not _redirect_allowed(emulator, redirect_uri):
        # Never redirect to an unregistered address: that is how authorization codes get stolen.
        return _error_page(400, "Redirect URI mismatch", f"{redirect_uri!r} is not a registered redirect URI.")
    state = params.get("state", "")

    def back(**answer: str) -> Response:
        answer = {**answer, "state": state} if state else answer
        separator = "&" if "?" in redirect_uri else "?"
        return redirect(f"{redirect_uri}{separator}{urlencode(answer)}")

    if params.get("response_type") != "code":
        return back(error="unsupported_response_type", error_description="response_type must be code.")
    scope = " ".join(params.get("scope", "").replace("+", " ").split())
    unknown = sorted(set(scope.split()) - KNOWN_SCOPES)
    if unknown:
        return back(error="invalid_scope", error_description=f"Unknown scopes: {' '.join(unknown)}.")
    challenge = params.get("code_challenge") or None
    if challenge is not None and params.get("code_challenge_method") != "S256":
        return back(error="invalid_request", error_description="code_challenge_method must be S256.")
    decision = params.get("decision") if request.method == "POST" else None
    if decision is None and not emulator.settings.auto_approve:
        return html_response(200, _consent_page(emulator, params))
    if decision == "deny":
        return back(error="access_denied", error_description="The user denied the request.")
    code = emulator.authorization.issue_code(
        client_id=client_id, redirect_uri=redirect_uri, scope=scope, code_challenge=challenge
    )
    return back(code=code)


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip()).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        client_id, _, secret = decoded.partition(":")
        return client_id, secret
    return None


def token(emulator: Emulator, request: Request) -> Response:
    form = request.form()
    credentials = _client_credentials(request, form)
    settings = emulator.settings
    if (
        credentials is None
        or credentials[0] != settings.client_id
        or not hmac.compare_digest(credentials[1], settings.client_secret)
    ):
        return json_response(401, {"error": "invalid_client", "error_description": "Client authentication failed."})
    grant_type = form.get("grant_type")
    try:
        if grant_type == "authorization_code":
            answer = emulator.authorization.redeem_code(
                code=form.get("code", ""),
                client_id=credentials[0],
                redirect_uri=form.get("redirect_uri", ""),
                verifier=form.get("code_verifier"),
            )
        elif grant_type == "refresh_token":
            answer = emulator.authorization.refresh(
                refresh_token=form.get("refresh_token", ""), client_id=credentials[0]
            )
        else:
            raise GrantError("unsupported_grant_type", f"The grant type {grant_type!r} is not supported.")
    except GrantError as exc:
        return json_response(exc.status, {"error": exc.error, "error_description": exc.description})
    return json_response(200, answer, {"cache-control": "no-store", "pragma": "no-cache"})


def _consent_page(emulator: Emulator, params: dict[str, str]) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(key)}" value="{html.escape(value)}">'
        for key, value in params.items()
        if key != "decision"
    )
    account = html.escape(emulator.settings.account_name)
    scopes = "".join(f"<li>{html.escape(scope)}</li>" for scope in params.get("scope", "").split())
    body = f"""
<p>An application (<code>{html.escape(params.get("client_id", ""))}</code>) asks to access the Constant Contact
account <strong>{account}</strong> with these permissions:</p>
<ul>{scopes}</ul>
<form method="post" action="{AUTH_PREFIX}/authorize">{hidden}
  <button type="submit" name="decision" value="allow" id="allow">Allow access</button>
  <button type="submit" name="decision" value="deny" id="deny">Deny</button>
</form>
<p class="note">This is segport's Constant Contact emulator, not Constant Contact.</p>"""
    return _page("Sign in to Constant Contact (emulator)", body)


def _page(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#1b1b1b}}
button{{font-size:1rem;padding:.5rem 1rem;margin-right:.5rem}}.note{{color:#666;font-size:.85rem}}</style>
</head><body><h1>{html.escape(title)}</h1>{body}</body></html>"""
