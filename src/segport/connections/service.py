"""Connections to Constant Contact: the wizard (consent, sign-in, export user), and clients for the runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from pydantic import SecretStr
from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from segport import audit
from segport.config import Settings
from segport.connections.budget import SharedBudget
from segport.constant_contact import (
    BearerAuth,
    ConstantContactClient,
    OAuthClient,
    RetryPolicy,
    TokenKeeper,
    TokenSet,
)
from segport.constant_contact.client import DEFAULT_TIMEOUT
from segport.constant_contact.oauth import SharedTokens
from segport.constant_contact.retry import WaitBudget, WaitObserver
from segport.errors import ConfigurationError, InvalidInput, ReauthorizationRequired, Refused, UnknownName
from segport.metrics import count_answer
from segport.runs import queue
from segport.store import Store, locks
from segport.store.lookup import checked_name, name_of, row_named
from segport.store.tables import connections, exports
from segport.webhook_targets import check_target

CONSTANT_CONTACT = "constant_contact"
PRIVACY_TEXT = """Data privacy and compliance

Enabling segport to transmit data to Constant Contact allows that data to leave the environment where
segport runs and its compliance boundary, including potentially sensitive data such as personal data
(email addresses and names of your customers). segport transfers such data at your instruction, but you
are responsible for ensuring that Constant Contact meets any privacy or security obligations you may have,
including a lawful basis for sending marketing email to these people. Constant Contact's own terms and
privacy policy govern the data once it is there. An administrator can remove this connection at any time
to stop this use; removing it deletes the stored Constant Contact tokens."""

SignIn = Callable[[OAuthClient, httpx.Client], TokenSet]


@dataclass(frozen=True)
class ConnectionView:
    id: int
    name: str
    kind: str
    allow_contributors: bool
    consent_by: str
    consent_at: datetime
    export_user: str
    account_name: str | None
    account_id: str | None
    api_base: str
    token_expires_at: datetime | None
    exports: list[str]


def http_client(settings: Settings) -> httpx.Client:
    return httpx.Client(
        timeout=httpx.Timeout(
            connect=settings.http_connect_timeout,
            read=settings.http_read_timeout,
            write=settings.http_write_timeout,
            pool=30.0,
        )
    )


@contextmanager
def http_session(settings: Settings, http: httpx.Client | None) -> Iterator[httpx.Client]:
    """The caller's httpx client (the one network seam: tests hand in the emulator), or a new one."""
    if http is not None:
        yield http
        return
    with http_client(settings) as fresh:
        yield fresh


def oauth_client(
    settings: Settings,
    http: httpx.Client,
    *,
    auth_base: str | None = None,
    client_id: str | None = None,
    client_secret: SecretStr | None = None,
) -> OAuthClient:
    client_id = client_id or settings.cc_client_id
    client_secret = client_secret or settings.cc_client_secret
    if not client_id or client_secret is None:
        raise ConfigurationError(
            "The Constant Contact application's client id and secret are not set.",
            hint="Set SEGPORT_CC_CLIENT_ID (the API key) and SEGPORT_CC_CLIENT_SECRET from Constant Contact's "
            "developer portal, or run segport demo to use the built-in emulator.",
        )
    return OAuthClient(
        http, auth_base=auth_base or settings.cc_auth_base, client_id=client_id, client_secret=client_secret
    )


def seal_tokens(store: Store, tokens: TokenSet) -> str:
    return store.secrets.seal(
        orjson.dumps(
            {
                "access_token": tokens.access_token.get_secret_value(),
                "refresh_token": tokens.refresh_token.get_secret_value() if tokens.refresh_token else None,
                "expires_at": tokens.expires_at.isoformat(),
                "scope": tokens.scope,
                "token_type": tokens.token_type,
            }
        ).decode()
    )


def open_tokens(store: Store, sealed: str) -> TokenSet:
    data = orjson.loads(store.secrets.open(sealed))
    return TokenSet(
        access_token=SecretStr(data["access_token"]),
        refresh_token=SecretStr(data["refresh_token"]) if data["refresh_token"] else None,
        expires_at=datetime.fromisoformat(data["expires_at"]),
        scope=data["scope"],
        token_type=data["token_type"],
    )


def _row(connection: Connection, name: str) -> Any:
    return row_named(
        connection,
        connections,
        name,
        kind="connection",
        create_hint="There are no connections yet: an admin adds one (signing in to Constant Contact).",
    )


@dataclass(frozen=True)
class Account:
    name: str | None
    id: str | None


def sign_in_to_account(
    store: Store, settings: Settings, *, sign_in: SignIn, http: httpx.Client | None = None
) -> tuple[TokenSet, Account]:
    """Sign in to Constant Contact (the application of `settings`) and read which account that is."""
    with http_session(settings, http) as session:
        oauth = oauth_client(settings, session)
        tokens = sign_in(oauth, session)
        summary = _client(
            store, settings, session, oauth, tokens, settings.cc_api_base, lambda _t: None
        ).account_summary()
    return tokens, Account(summary.organization_name, summary.encoded_account_id)


def _check_new(store: Store, name: str, agreed: bool) -> str:
    name = checked_name(name, kind="connection")
    if not agreed:
        raise InvalidInput(
            "The data privacy and compliance terms were not accepted.",
            hint="Read the terms and accept them.",
            field="agreed",
        )
    with store.begin() as connection:
        if connection.execute(select(connections.c.id).where(connections.c.name == name)).first():
            raise Refused(f"A connection named {name!r} already exists.", hint="Choose another display name.")
    return name


def add_connection(
    store: Store,
    settings: Settings,
    *,
    name: str,
    allow_contributors: bool,
    agreed: bool,
    actor: str,
    sign_in: SignIn,
    http: httpx.Client | None = None,
) -> ConnectionView:
    """The wizard: who may use it, consent, sign-in to Constant Contact, the export user; then save."""
    name = _check_new(store, name, agreed)
    tokens, account = sign_in_to_account(store, settings, sign_in=sign_in, http=http)
    return save_connection(
        store, settings, name=name, allow_contributors=allow_contributors, actor=actor, tokens=tokens, account=account
    )


def save_connection(
    store: Store,
    settings: Settings,
    *,
    name: str,
    allow_contributors: bool,
    actor: str,
    tokens: TokenSet,
    account: Account,
) -> ConnectionView:
    """Store a signed-in connection; `actor` agreed to the terms and becomes its export user."""
    name = _check_new(store, name, agreed=True)
    now = datetime.now(UTC)
    secret = settings.cc_client_secret
    if secret is None or settings.cc_client_id is None:
        raise ConfigurationError(
            "The Constant Contact application's client id and secret are not set.",
            hint="Set SEGPORT_CC_CLIENT_ID and SEGPORT_CC_CLIENT_SECRET from Constant Contact's developer portal.",
        )
    try:
        with store.begin() as connection:
            connection.execute(
                insert(connections).values(
                    name=name,
                    kind=CONSTANT_CONTACT,
                    allow_contributors=allow_contributors,
                    consent_by=actor,
                    consent_at=now,
                    export_user=actor,
                    account_name=account.name,
                    account_id=account.id,
                    api_base=settings.cc_api_base,
                    auth_base=settings.cc_auth_base,
                    client_id=settings.cc_client_id,
                    client_secret_sealed=store.secrets.seal(secret.get_secret_value()),
                    tokens_sealed=seal_tokens(store, tokens),
                    token_expires_at=tokens.expires_at,
                    created_by=actor,
                    created_at=now,
                    updated_at=now,
                )
            )
            audit.record(connection, actor, "consent.given", name, terms="data privacy and compliance")
            audit.record(
                connection,
                actor,
                "connection.created",
                name,
                account=account.name,
                allow_contributors=allow_contributors,
            )
    except IntegrityError:
        raise Refused(f"A connection named {name!r} already exists.", hint="Choose another display name.") from None
    return show_connection(store, name=name)


def edit_connection(
    store: Store, *, name: str, actor: str, new_name: str | None = None, allow_contributors: bool | None = None
) -> ConnectionView:
    """Rename the connection and/or change who may use it (admins only, or contributors too)."""
    changes: dict[str, Any] = {}
    with store.begin() as connection:
        row = _row(connection, name)
        if new_name is not None and new_name.strip() != name:
            new_name = checked_name(new_name, kind="connection")
            if connection.execute(select(connections.c.id).where(connections.c.name == new_name)).first():
                raise Refused(f"A connection named {new_name!r} already exists.", hint="Choose another name.")
            changes["name"] = new_name
        if allow_contributors is not None and bool(row["allow_contributors"]) != allow_contributors:
            changes["allow_contributors"] = allow_contributors
        if changes:
            connection.execute(
                update(connections).where(connections.c.id == row["id"]).values(**changes, updated_at=datetime.now(UTC))
            )
            audit.record(connection, actor, "connection.changed", name, **changes)
    return show_connection(store, name=changes.get("name", name))


def reauthorize_connection(
    store: Store, settings: Settings, *, name: str, sign_in: SignIn, actor: str, http: httpx.Client | None = None
) -> ConnectionView:
    with store.begin() as connection:
        row = _row(connection, name)
    with http_session(settings, http) as session:
        oauth = oauth_client(
            settings,
            session,
            auth_base=row["auth_base"],
            client_id=row["client_id"],
            client_secret=SecretStr(store.secrets.open(row["client_secret_sealed"])),
        )
        tokens = sign_in(oauth, session)
        summary = _client(store, settings, session, oauth, tokens, row["api_base"], lambda _t: None).account_summary()
    if row["account_id"] and summary.encoded_account_id != row["account_id"]:
        # Another account's tokens would send this connection's exports into a stranger's lists.
        raise Refused(
            f"The sign-in was to the Constant Contact account {summary.organization_name or '?'!r} "
            f"({summary.encoded_account_id}), not to {row['account_name']!r} ({row['account_id']}), the account of "
            f"connection {name!r}. Nothing was changed.",
            hint="Sign in as a user of the connection's own account, or add a new connection for the other account.",
        )
    _save_tokens(store, row["id"], tokens)
    with store.begin() as connection:
        audit.record(connection, actor, "connection.reauthorized", name)
        # Runs parked until someone signed in again carry on now (their checkpoints are kept).
        queue.release_waiting_for_reauthorization(connection, row["id"], actor)
    return show_connection(store, name=name)


def list_connections(store: Store) -> list[ConnectionView]:
    """Every connection, by name, with the exports using each: two queries, however many connections (every
    page that offers a connection, and every list of exports that checks who may edit them, reads this)."""
    with store.read() as connection:
        rows = connection.execute(select(connections).order_by(connections.c.name)).mappings().all()
        used: dict[int, list[str]] = {}
        for connection_id, export_name in connection.execute(
            select(exports.c.connection_id, exports.c.name)
            .where(exports.c.connection_id.is_not(None))
            .order_by(exports.c.name)
        ):
            used.setdefault(connection_id, []).append(export_name)
    return [_view(row, used.get(row["id"], [])) for row in rows]


def show_connection(store: Store, *, name: str) -> ConnectionView:
    with store.read() as connection:
        row = _row(connection, name)
        used = (
            connection.execute(
                select(exports.c.name).where(exports.c.connection_id == row["id"]).order_by(exports.c.name)
            )
            .scalars()
            .all()
        )
    return _view(row, list(used))


def _view(row: Any, used: list[str]) -> ConnectionView:
    return ConnectionView(
        row["id"],
        row["name"],
        row["kind"],
        row["allow_contributors"],
        row["consent_by"],
        row["consent_at"],
        row["export_user"],
        row["account_name"],
        row["account_id"],
        row["api_base"],
        row["token_expires_at"],
        used,
    )


def set_webhook(store: Store, *, name: str, url: str | None, actor: str) -> None:
    """The URL called when a run of this connection's exports ends Failure or Skipped (None: no webhook)."""
    if url is not None:
        check_target(url, allow_internal=store.settings.webhook_allow_internal)
    with store.begin() as connection:
        row = _row(connection, name)
        connection.execute(
            update(connections)
            .where(connections.c.id == row["id"])
            .values(webhook_url=url, updated_at=datetime.now(UTC))
        )
        audit.record(connection, actor, "connection.changed", name, webhook="set" if url else "off")


def remove_connection(store: Store, *, name: str, actor: str) -> None:
    """Remove a connection and its stored secrets; refused while exports use it."""
    view = show_connection(store, name=name)
    if view.exports:
        raise Refused(
            f"The connection {name!r} is used by the exports: {', '.join(view.exports)}.",
            hint="Disconnect those exports first (they are kept, but do not run until they get another "
            "connection), or remove them.",
        )
    with store.begin() as connection:
        connection.execute(delete(connections).where(connections.c.id == view.id))
        audit.record(connection, actor, "connection.removed", name)


def _save_tokens(store: Store, connection_id: int, tokens: TokenSet) -> None:
    with store.begin() as connection:
        connection.execute(
            update(connections)
            .where(connections.c.id == connection_id)
            .values(
                tokens_sealed=seal_tokens(store, tokens),
                token_expires_at=tokens.expires_at,
                updated_at=datetime.now(UTC),
            )
        )


def budget_for(store: Store, settings: Settings, api_base: str, client_id: str) -> SharedBudget:
    """The request budget of one API key, shared through the database by every process that uses the key."""
    return SharedBudget(
        store,
        f"{api_base}|{client_id}",
        per_second=settings.cc_requests_per_second,
        per_day=settings.cc_requests_per_day,
    )


class StoredTokens:
    """A connection's tokens as every process sees them: re-read from the store, refreshed under a lock that all
    processes take (a rotating refresh token is spent by the first refresh; a second would lock the
    connection out)."""

    def __init__(self, store: Store, connection_id: int) -> None:
        self._store = store
        self._connection_id = connection_id

    def current(self) -> TokenSet:
        with self._store.read() as db:
            sealed = db.execute(
                select(connections.c.tokens_sealed).where(connections.c.id == self._connection_id)
            ).scalar()
        if not sealed:
            raise ReauthorizationRequired("The connection has no tokens any more.", operation="token")
        return open_tokens(self._store, sealed)

    def refreshing(self) -> AbstractContextManager[None]:
        return locks.held(self._store, f"connection:{self._connection_id}:token-refresh")


def retry_policy(
    settings: Settings, *, budget: WaitBudget | None = None, observer: WaitObserver | None = None
) -> RetryPolicy:
    """How requests are retried: a run (with a waiting budget) retries for as long as the budget lasts."""
    return RetryPolicy(
        attempts=None if budget is not None else settings.retry_attempts,
        total_seconds=settings.run_wait_seconds if budget is not None else settings.retry_total_seconds,
        base_delay=settings.retry_base_delay_seconds,
        max_delay=settings.retry_max_delay_seconds,
        queue_delay=settings.retry_queue_delay_seconds,
        budget=budget,
        observer=observer,
    )


def _client(
    store: Store,
    settings: Settings,
    http: httpx.Client,
    oauth: OAuthClient,
    tokens: TokenSet,
    api_base: str,
    persist: Callable[[TokenSet], None],
    *,
    shared: SharedTokens | None = None,
    retry: RetryPolicy | None = None,
) -> ConstantContactClient:
    keeper = TokenKeeper(oauth, tokens, on_new_tokens=persist, shared=shared)
    budget = budget_for(store, settings, api_base, oauth.client_id)
    retry = retry or retry_policy(settings)
    timeout = httpx.Timeout(
        connect=settings.http_connect_timeout,
        read=settings.http_read_timeout,
        write=settings.http_write_timeout,
        pool=DEFAULT_TIMEOUT.pool,
    )
    return ConstantContactClient(
        http,
        api_base=api_base,
        auth=BearerAuth(keeper, budget),
        budget=budget,
        retry=retry,
        timeout=timeout,
        on_answer=count_answer,
        poll_seconds=settings.activity_poll_seconds,
        activity_wait_seconds=settings.activity_wait_seconds,
    )


def client_for(
    store: Store, settings: Settings, http: httpx.Client, connection_id: int, *, retry: RetryPolicy | None = None
) -> ConstantContactClient:
    """A client for a stored connection; refreshed tokens are sealed and stored before they are used."""
    row = _signed_in(store, connection_id, gone_hint="Edit the export's connection.")
    return _client(
        store,
        settings,
        http,
        _stored_oauth(store, http, row),
        open_tokens(store, row["tokens_sealed"]),
        row["api_base"],
        lambda fresh: _save_tokens(store, row["id"], fresh),
        shared=StoredTokens(store, row["id"]),
        retry=retry,
    )


def renew_tokens(store: Store, http: httpx.Client, connection_id: int, *, retry: RetryPolicy | None = None) -> None:
    """Renew a stored connection's token pair when its access token has expired, as a use of it would: under the
    lock every process takes, so a pair another process just renewed (read before or after it did) is kept."""
    row = _signed_in(store, connection_id, gone_hint="Nothing is left to renew.")
    tokens = open_tokens(store, row["tokens_sealed"])
    keeper = TokenKeeper(
        _stored_oauth(store, http, row, retry=retry),
        tokens,
        on_new_tokens=lambda fresh: _save_tokens(store, connection_id, fresh),
        shared=StoredTokens(store, connection_id),
    )
    keeper.access_token()


def _signed_in(store: Store, connection_id: int, *, gone_hint: str) -> Any:
    """The stored connection's row; refused when it was removed, or has no tokens (a person must sign in)."""
    with store.read() as connection:
        row = connection.execute(select(connections).where(connections.c.id == connection_id)).mappings().first()
    if row is None:
        raise UnknownName(f"The connection {connection_id} no longer exists.", hint=gone_hint)
    if not row["tokens_sealed"]:
        raise ReauthorizationRequired(f"The connection {row['name']!r} has no tokens.")
    return row


def _stored_oauth(store: Store, http: httpx.Client, row: Any, *, retry: RetryPolicy | None = None) -> OAuthClient:
    return OAuthClient(
        http,
        auth_base=row["auth_base"],
        client_id=row["client_id"],
        client_secret=SecretStr(store.secrets.open(row["client_secret_sealed"])),
        retry=retry,
    )


def connection_name(store: Store, *, connection_id: int) -> str:
    """The name of the connection with this id (its routes take either)."""
    with store.read() as db:
        return name_of(db, connections, connection_id, kind="connection")
