"""Signing in to Constant Contact through the browser, for the API and the web UI.

Starting: the user has agreed to the terms; segport makes a state and a PKCE pair, keeps the state's digest
(bound to the user and the connection, single use, ten minutes) with the verifier sealed, and returns
Constant Contact's authorize URL. Finishing: Constant Contact sends the browser back to /oauth/callback
with the code and the state; segport checks the state, exchanges the code with the verifier, and saves the
connection (or its new tokens) with the consent recorded.

Started from the web UI, a sign-in is also bound to the browser session that started it (the callback must
come back in that session), and adding a connection takes one more step: the callback keeps the tokens
(sealed) and the account in the sign-in, the wizard shows the account and asks the admin to add themselves
as the export user, and Save stores the connection and deletes the sign-in.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Connection, delete, insert, select, update

from segport.clock import as_utc
from segport.config import Settings
from segport.connections import service as connections
from segport.constant_contact.oauth import OAuthClient, TokenSet, authorization_url, make_pkce, new_state
from segport.errors import ConfigurationError, InvalidInput, ReauthorizationRequired, Refused, UnknownName
from segport.store import Store
from segport.store.tables import sign_ins

LIFETIME = timedelta(minutes=10)
SAVE_WITHIN = timedelta(minutes=30)  # a wizard's signed-in connection waits this long (from its start) for Save


@dataclass(frozen=True)
class Started:
    authorize_url: str
    expires_at: datetime


@dataclass(frozen=True)
class Finished:
    """What the callback did: saved a connection (`connection`), or holds one for the wizard (`pending`)."""

    name: str
    connection: connections.ConnectionView | None = None
    pending: str | None = None  # the id of the signed-in sign-in, for the wizard's review step


@dataclass(frozen=True)
class Pending:
    id: str
    name: str
    allow_contributors: bool
    account_name: str | None
    account_id: str | None


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
    session_digest: str | None = None,
) -> Started:
    """A sign-in for adding the connection `name` (consent required) or reauthorizing it; `session_digest`
    binds it to the web UI session that started it."""
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
        _purge(db, now)
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
                session_digest=session_digest,
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
    session_digest: str | None = None,
) -> Finished:
    """Complete the sign-in the state belongs to (once, before it expires, in the session that started it)."""
    now = datetime.now(UTC)
    with store.begin() as db:
        _purge(db, now)
        row = db.execute(select(sign_ins).where(sign_ins.c.state_digest == _digest(state))).mappings().first()
        if row is None:
            raise InvalidInput(
                "This sign-in answer does not belong to any sign-in segport started.",
                hint="Start again from segport (Add connection or Reauthorize).",
            )
        if row["session_digest"] is not None and row["session_digest"] != session_digest:
            raise Refused(
                "This sign-in was started in another browser session.",
                hint="Finish it in the browser (and signed-in segport session) that started it, or start again.",
            )
        taken = db.execute(
            update(sign_ins)
            .where(sign_ins.c.state_digest == row["state_digest"], sign_ins.c.used_at.is_(None))
            .values(used_at=now)
        ).rowcount
    if taken != 1:
        raise Refused("This sign-in was already completed.", hint="Start a new one if you need to sign in again.")
    expires_at = as_utc(row["expires_at"])
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

    name = row["connection_name"]
    if row["purpose"] == "add" and row["session_digest"] is not None:
        tokens, account = connections.sign_in_to_account(store, settings, sign_in=exchange, http=http)
        with store.begin() as db:
            db.execute(
                update(sign_ins)
                .where(sign_ins.c.state_digest == row["state_digest"])
                .values(
                    tokens_sealed=connections.seal_tokens(store, tokens),
                    account_name=account.name,
                    account_id=account.id,
                )
            )
        return Finished(name, pending=row["state_digest"])
    if row["purpose"] == "add":
        view = connections.add_connection(
            store,
            settings,
            name=name,
            allow_contributors=row["allow_contributors"],
            agreed=True,  # checked when the sign-in started; the consent is recorded with its user
            actor=row["user_name"],
            sign_in=exchange,
            http=http,
        )
        return Finished(name, connection=view)
    view = connections.reauthorize_connection(
        store, settings, name=name, sign_in=exchange, actor=row["user_name"], http=http
    )
    return Finished(name, connection=view)


def _pending_row(db: Connection, pending: str, session_digest: str) -> Any:
    row = db.execute(select(sign_ins).where(sign_ins.c.state_digest == pending)).mappings().first()
    if row is None or row["tokens_sealed"] is None or row["session_digest"] != session_digest:
        raise UnknownName(
            "There is no signed-in connection waiting to be saved here.",
            hint="Start Add connection again (a signed-in connection waits 30 minutes for Save).",
        )
    if as_utc(row["created_at"]) + SAVE_WITHIN < datetime.now(UTC):
        raise InvalidInput("This sign-in waited too long to be saved (30 minutes).", hint="Start it again.")
    return row


def show_pending(store: Store, *, pending: str, session_digest: str) -> Pending:
    """The signed-in connection the wizard is about to save (only for the session that started it)."""
    with store.begin() as db:
        row = _pending_row(db, pending, session_digest)
    return Pending(
        pending,
        row["connection_name"],
        row["allow_contributors"],
        row["account_name"],
        row["account_id"],
    )


def save_pending(
    store: Store, settings: Settings, *, pending: str, session_digest: str, export_user_added: bool
) -> connections.ConnectionView:
    """The wizard's Save: the admin who signed in becomes the export user; the sign-in and its copy go."""
    if not export_user_added:
        raise InvalidInput(
            "The connection has no export user yet.",
            hint="Tick 'Add yourself as the export user': exports on this connection run with your sign-in.",
        )
    with store.begin() as db:
        row = _pending_row(db, pending, session_digest)
    tokens = connections.open_tokens(store, row["tokens_sealed"])
    view = connections.save_connection(
        store,
        settings,
        name=row["connection_name"],
        allow_contributors=row["allow_contributors"],
        actor=row["user_name"],
        tokens=tokens,
        account=connections.Account(row["account_name"], row["account_id"]),
    )
    with store.begin() as db:
        db.execute(delete(sign_ins).where(sign_ins.c.state_digest == pending))
    return view


def _purge(db: Connection, now: datetime) -> None:
    """Finished, abandoned and expired sign-ins go, with any tokens a wizard left unsaved."""
    db.execute(delete(sign_ins).where(sign_ins.c.created_at < now - SAVE_WITHIN))
