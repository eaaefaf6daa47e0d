"""Web UI sessions: signed in by name and password, ended by signing out, idleness or age.

The cookie carries 32 random bytes; the database keeps their SHA-256 digest, so a copy of it opens no
session. Each session has its own CSRF token, which every form posts back.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import bindparam, delete, func, insert, select, update

from segport import audit
from segport.clock import as_utc
from segport.config import Settings
from segport.errors import Refused
from segport.store import Store, locks
from segport.store.tables import audit as audit_table
from segport.store.tables import users, web_sessions
from segport.users.service import User, check_password


@dataclass(frozen=True)
class Session:
    digest: str
    user: User
    csrf_token: str
    expires_at: datetime
    notices: str | None = None  # as read with the session: JSON of the messages waiting for the next page


# The idle clock is moved at most this often, so following a run (a read a second) does not write each time.
SEEN_EVERY = timedelta(minutes=1)
# Built once: every page runs it, and building the statement cost more than running it.
SESSION_OWNER = (
    select(web_sessions, users.c.name, users.c.role, users.c.created_at.label("user_created_at"))
    .join(users, users.c.id == web_sessions.c.user_id)
    .where(web_sessions.c.digest == bindparam("digest"))
)


def session_digest(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


def _check_not_locked(store: Store, settings: Settings, name: str, now: datetime) -> None:
    """Refuse a name with too many wrong passwords in the window (since its last sign-in or new password)."""
    window = timedelta(minutes=settings.sign_in_lockout_minutes)
    with store.begin() as db:
        reset = db.execute(
            select(func.max(audit_table.c.at)).where(
                audit_table.c.subject == name, audit_table.c.action.in_(("user.signed_in", "user.password_set"))
            )
        ).scalar()
        since = max(now - window, as_utc(reset)) if reset is not None else now - window
        failures = (
            db.execute(
                select(audit_table.c.at)
                .where(
                    audit_table.c.subject == name,
                    audit_table.c.action == "user.sign_in_failed",
                    audit_table.c.at > since,
                )
                .order_by(audit_table.c.at)
            )
            .scalars()
            .all()
        )
    if len(failures) >= settings.sign_in_attempts:
        until = as_utc(failures[-settings.sign_in_attempts]) + window
        raise Refused(
            f"Too many wrong passwords for {name!r}: signing in as {name!r} is paused until {until:%H:%M} UTC.",
            hint="Wait until then, or ask an admin to set a new password.",
        )


def sign_in(store: Store, settings: Settings, *, name: str, password: str) -> tuple[Session, str] | None:
    """A new session (and the cookie value, which is not stored) when the password is right, else None.

    Every wrong password is in the audit trail; too many for one name pause it (Refused)."""
    name = name.strip()
    # One attempt per name at a time, across threads and processes: the count of wrong passwords is read and
    # the new one recorded under one lock, so forty at once cannot all be checked before any is counted.
    with locks.held(store, f"sign-in:{name.lower()[:150]}", lease_seconds=30, wait_seconds=60, pause=0.02):
        _check_not_locked(store, settings, name, datetime.now(UTC))
        user = check_password(store, name=name, password=password)
        if user is None:
            with store.begin() as db:
                audit.record(db, name or "-", "user.sign_in_failed", name or "-")
            return None
    cookie = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    expires_at = now + timedelta(hours=settings.session_max_hours)
    csrf_token = secrets.token_urlsafe(32)
    with store.begin() as db:
        db.execute(delete(web_sessions).where(web_sessions.c.expires_at < now))  # tidy old ones on the way
        db.execute(
            insert(web_sessions).values(
                digest=session_digest(cookie),
                user_id=user.id,
                csrf_token=csrf_token,
                created_at=now,
                last_seen_at=now,
                expires_at=expires_at,
            )
        )
        audit.record(db, user.name, "user.signed_in", user.name)
    return Session(session_digest(cookie), user, csrf_token, expires_at), cookie


def find_session(store: Store, settings: Settings, cookie: str) -> Session | None:
    """The live session the cookie opens (its idle clock restarts), or None (unknown, idle too long, expired)."""
    if not cookie or len(cookie) > 200:
        return None
    digest = session_digest(cookie)
    now = datetime.now(UTC)
    # Read without the write lock (every page asks); write only when the session ended or its idle clock is due.
    with store.read() as db:
        row = db.execute(SESSION_OWNER, {"digest": digest}).mappings().first()
    if row is None:
        return None
    idle_limit = as_utc(row["last_seen_at"]) + timedelta(minutes=settings.session_idle_minutes)
    if as_utc(row["expires_at"]) <= now or idle_limit <= now:
        with store.begin() as db:
            db.execute(delete(web_sessions).where(web_sessions.c.digest == digest))
        return None
    if now - as_utc(row["last_seen_at"]) >= SEEN_EVERY:
        with store.begin() as db:
            db.execute(update(web_sessions).where(web_sessions.c.digest == digest).values(last_seen_at=now))
    user = User(row["user_id"], row["name"], row["role"], row["user_created_at"])
    return Session(digest, user, row["csrf_token"], as_utc(row["expires_at"]), row["notices"])


def sign_out(store: Store, session: Session) -> None:
    with store.begin() as db:
        db.execute(delete(web_sessions).where(web_sessions.c.digest == session.digest))
        audit.record(db, session.user.name, "user.signed_out", session.user.name)


def add_notice(store: Store, session: Session, kind: str, text: str) -> None:
    """A message for the next page this session shows (after a redirect), e.g. ("success", "Saved.")."""
    with store.begin() as db:
        current = db.execute(select(web_sessions.c.notices).where(web_sessions.c.digest == session.digest)).scalar()
        notices = orjson.loads(current) if current else []
        notices.append([kind, text])
        db.execute(
            update(web_sessions)
            .where(web_sessions.c.digest == session.digest)
            .values(notices=orjson.dumps(notices).decode())
        )


def take_notices(store: Store, session: Session) -> list[tuple[str, str]]:
    """The messages read with the session, cleared so they show once (no query when there are none)."""
    if not session.notices:
        return []
    with store.begin() as db:
        db.execute(update(web_sessions).where(web_sessions.c.digest == session.digest).values(notices=None))
    return [(kind, text) for kind, text in orjson.loads(session.notices)]
