"""Sign-ins kept alive while nobody uses them.

Constant Contact expires a refresh token that has not been used for 180 days, rotating and long-lived alike
(constant-contact-api.md, 1.7); after that only a person signing in again brings the connection back, and every
run of its exports waits for them. A connection in use renews its tokens as it works (each use after the access
token expired refreshes the pair), so only one whose exports run rarely, or not yet, would lapse. The scheduler
renews the tokens of a connection that nobody has used for `token_keep_alive_days`: its access token expired that
long ago, since every use would have renewed it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from segport import audit
from segport.config import Settings
from segport.connections.service import http_session, renew_tokens
from segport.constant_contact.retry import RetryPolicy
from segport.errors import ReauthorizationRequired, SegportError
from segport.store import Store
from segport.store.tables import connections

logger = logging.getLogger(__name__)

ACTOR = "scheduler"
# How often a scheduler looks for idle connections: a connection that cannot be renewed (signed out already)
# costs one token request per scheduler this often, and its warning is logged again.
CHECK_SECONDS = 3600.0
# Tries of one renewal: the scheduler's ticks wait while it retries, and nothing is urgent (the next check is in
# an hour, months before the token would lapse).
ATTEMPTS = 2


def renew_idle(
    store: Store, settings: Settings, *, now: datetime | None = None, http: httpx.Client | None = None
) -> list[str]:
    """Renew the tokens of every connection unused for `token_keep_alive_days`; the names of those renewed. One
    that cannot be renewed is logged (and, when Constant Contact refused its sign-in, audited) and left: the
    others are still renewed."""
    idle_since = (now or datetime.now(UTC)) - timedelta(days=settings.token_keep_alive_days)
    with store.read() as db:
        idle = db.execute(
            select(connections.c.id, connections.c.name)
            .where(connections.c.tokens_sealed.is_not(None), connections.c.token_expires_at < idle_since)
            .order_by(connections.c.id)
        ).all()
    if not idle:
        return []
    renewed = []
    retry = RetryPolicy(  # each renewal starts its own count of tries from it
        attempts=ATTEMPTS,
        base_delay=settings.retry_base_delay_seconds,
        max_delay=settings.retry_max_delay_seconds,
        queue_delay=settings.retry_queue_delay_seconds,
    )
    with http_session(settings, http) as session:
        for connection_id, name in idle:
            try:
                renew_tokens(store, session, connection_id, retry=retry)
            except ReauthorizationRequired as exc:
                logger.warning("The connection %r is signed out and cannot be kept signed in: %s", name, exc)
                with store.begin() as db:
                    audit.record(db, ACTOR, "connection.renewal_refused", name, reason=exc.message)
                continue
            except SegportError as exc:  # Constant Contact not answering: the next check tries again
                logger.warning("The tokens of the idle connection %r could not be renewed now: %s", name, exc)
                continue
            with store.begin() as db:
                audit.record(db, ACTOR, "connection.renewed", name, idle_days=settings.token_keep_alive_days)
            renewed.append(name)
    return renewed
