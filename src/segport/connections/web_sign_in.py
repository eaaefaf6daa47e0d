"""Signing in to Constant Contact through the browser, for the API and the web UI.

Starting: the user has agreed to the terms; segport makes a state and a PKCE pair, keeps the state's digest
(bound to the user and the connection, single use, ten minutes) with the verifier sealed, and returns
Constant Contact's authorize URL. Finishing: Constant Contact sends the browser back to /oauth/callback
with the code and the state; segport checks the state, exchanges the code with the verifier, and saves the
connection (or its new tokens) with the consent recorded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import insert, select, update

from segport.config import Settings
from segport.connections import service as connections
from segport.constant_contact.oauth import OAuthClient, TokenSet, authorization_url, make_pkce, new_state
from segport.errors import ConfigurationError, InvalidInput, ReauthorizationRequired, Refused
from segport.store import Store
from segport.store.tables import sign_ins

LIFETIME = timedelta(minutes=10)


@dataclass(frozen=True)
class Started:
    authorize_url: str
    expires_at: datetime


def callback_uri(settings: Settings) -> str:
    return settings.api_public_url.rstrip("/") + "/oauth/callback"


def _digest(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def start(
    store: Store,
    settings: Settings,
    *,
    user: str,
    name: str,
    purpose: str,
    allow_contributors: bool = False,
    agreed: bool = False,
) -> Started:
    """A sign-in for adding the connection `name` (consent required) or reauthorizing it."""
    name = name.strip()
    if purpose == "add":
        if not name:
            raise InvalidInput("A connection needs a display name.", hint='Send "name", e.g. "Marketing CC".')
        if not agreed:
            raise InvalidInput(
                "The data privacy and compliance terms were not accepted.",
                hint='Read them (GET /api/connections/terms) and send "agreed": true.',
            )
        if any(view.name == name for view in connections.list_connections(store)):
            raise Refused(f"A connection named {name!r} already exists.", hint="Choose another display name.")
    else:
        connections.show_connection(store, name=name)  # a clear refusal for an unknown name
    if not settings.cc_client_id or settings.cc_client_secret is None:
        raise ConfigurationError(
            "The Constant Contact application's client id and secret are not set.",
            hint="Set SEGPORT_CC_CLIENT_ID and SEGPORT_CC_CLIENT_SECRET from Constant Contact's developer portal.",
        )
    pkce = make_pkce()
    state = new_state()
    now = datetime.now(UTC)
    redirect_uri = callback_uri(settings)
    with store.begin() as db:
        db.execute(
            insert(sign_ins).values(
                state_digest=_digest(state),
                purpose=purpose,
                connection_name=name,
                allow_contributors=allow_contributors,
                user_name=user,
                verifier_sealed=store.secrets.seal(pkce.verifier),
                redirect_uri=redirect_uri,
                created_at=now,
                expires_at=now + LIFETIME,
            )
        )
    url = authorization_url(
        auth_base=settings.cc_auth_base,
        client_id=settings.cc_client_id or "",
        redirect_uri=redirect_uri,
        state=state,
        code_challenge=pkce.challenge,
    )
    return Started(url, now + LIFETIME)


def finish(
    store: Store,
    settings: Settings,
    *,
    state: str,
    code: str | None,
    error: str | None = None,
    error_description: str | None = None,
    http: httpx.Client | None = None,
) -> connections.ConnectionView:
    """Complete the sign-in the state belongs to (once, before it expires)."""
    now = datetime.now(UTC)
    with store.begin() as db:
        row = db.execute(select(sign_ins).where(sign_ins.c.state_digest == _digest(state))).mappings().first()
        if row is None:
            raise InvalidInput(
                "This sign-in answer does not belong to any sign-in segport started.",
                hint="Start again from segport (Add connection or Reauthorize).",
            )
        taken = db.execute(
            update(sign_ins)
            .where(sign_ins.c.state_digest == row["state_digest"], sign_ins.c.used_at.is_(None))
            .values(used_at=now)
        ).rowcount
    if taken != 1:
        raise Refused("This sign-in was already completed.", hint="Start a new one if you need to sign in again.")
    expires_at = row["expires_at"] if row["expires_at"].tzinfo else row["expires_at"].replace(tzinfo=UTC)
    if expires_at < now:
        raise InvalidInput("This sign-in expired (ten minutes).", hint="Start it again.")
    if error:
        raise ReauthorizationRequired(
            f"Constant Contact did not grant access: {error} ({error_description or 'no reason given'}).",
            hint="Start again and choose Allow.",
        )
    if not code:
        raise InvalidInput("The sign-in answer carries no authorization code.", hint="Start the sign-in again.")
    verifier = store.secrets.open(row["verifier_sealed"])

    def exchange(oauth: OAuthClient, _http: httpx.Client) -> TokenSet:
        return oauth.exchange_code(code=code, redirect_uri=row["redirect_uri"], code_verifier=verifier)

    if row["purpose"] == "add":
        return connections.add_connection(
            store,
            settings,
            name=row["connection_name"],
            allow_contributors=row["allow_contributors"],
            agreed=True,  # checked when the sign-in started; the consent is recorded with its user
            actor=row["user_name"],
            sign_in=exchange,
            http=http,
        )
    return connections.reauthorize_connection(
        store, settings, name=row["connection_name"], sign_in=exchange, actor=row["user_name"], http=http
    )
