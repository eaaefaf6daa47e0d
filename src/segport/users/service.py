"""Users and API tokens. Roles follow Customer Insights: admin, contributor, viewer.

A token is shown once when it is made: `sp_` and 43 random URL-safe characters. segport keeps only its
SHA-256 digest, so a copy of the database does not hold a usable token.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from segport import audit
from segport.clock import as_utc
from segport.errors import InvalidInput, Refused, UnknownName
from segport.store import Store
from segport.store.lookup import MAX_NAME, checked_name
from segport.store.tables import api_tokens, users, web_sessions
from segport.users.passwords import check_strength, hash_password, verify_password, weaker_than_now

ROLES = ("admin", "contributor", "viewer")
LAST_USED_GRANULARITY = timedelta(minutes=1)
TOKEN_PREFIX = "sp_"  # noqa: S105 - a public marker of segport tokens, not a secret
# Built once: every API request runs it, and building the statement cost more than running it.
TOKEN_OWNER = (
    select(users, api_tokens.c.id.label("token_id"), api_tokens.c.last_used_at)
    .join(api_tokens, api_tokens.c.user_id == users.c.id)
    .where(api_tokens.c.digest == bindparam("digest"), api_tokens.c.revoked_at.is_(None))
)


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    created_at: datetime
    # Users made before passwords existed (or with --no-password... via the API) can use tokens but cannot sign
    # in to the web UI until an admin sets one: listed so, and `segport serve` says so at start.
    has_password: bool | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class Token:
    id: int
    user: str
    label: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidInput(f"{role!r} is not a role.", hint=f"Use one of: {', '.join(ROLES)}.")


def add_user(store: Store, *, name: str, role: str, actor: str, password: str | None = None) -> User:
    """A new user; with a password they can also sign in to the web UI."""
    name = name.strip()
    if not name:
        raise InvalidInput("A user needs a name.", hint="Give the user a name, e.g. alice.", field="name")
    # At most 255 characters (PostgreSQL refused a longer one at the insert), no '/' (the API's addresses name
    # users), no control characters (terminals show them).
    name = checked_name(name, kind="user")
    _check_role(role)
    if password is not None:
        check_strength(password)
    hashed = hash_password(password) if password is not None else None
    try:
        with store.begin() as db:
            db.execute(
                insert(users).values(
                    name=name, role=role, created_by=actor, created_at=datetime.now(UTC), password_hash=hashed
                )
            )
            audit.record(db, actor, "user.created", name, role=role)
    except IntegrityError:
        raise Refused(f"A user named {name!r} already exists.", hint="Choose another name.") from None
    return show_user(store, name=name)


def show_user(store: Store, *, name: str) -> User:
    with store.read() as db:
        row = db.execute(select(users).where(users.c.name == name)).mappings().first()
    if row is None:
        raise UnknownName(f"There is no user {name!r}.", hint="Check the name in the list of users.", field="user")
    return User(row["id"], row["name"], row["role"], row["created_at"])


def list_users(store: Store) -> list[User]:
    with store.read() as db:
        rows = db.execute(select(users).order_by(users.c.name)).mappings().all()
    return [
        User(row["id"], row["name"], row["role"], row["created_at"], row["password_hash"] is not None) for row in rows
    ]


def remove_user(store: Store, *, name: str, actor: str) -> None:
    """Remove a user and their tokens; the last admin cannot be removed."""
    user = show_user(store, name=name)
    with store.begin() as db:
        if user.is_admin:
            admins = db.execute(select(func.count()).where(users.c.role == "admin")).scalar_one()
            if admins <= 1:
                raise Refused(f"{name!r} is the only admin.", hint="Make another admin first.")
        db.execute(delete(users).where(users.c.id == user.id))
        audit.record(db, actor, "user.removed", name)


def set_role(store: Store, *, name: str, role: str, actor: str) -> User:
    """Change a user's role; the last admin cannot stop being one."""
    _check_role(role)
    user = show_user(store, name=name)
    if user.role == role:
        return user
    with store.begin() as db:
        if user.is_admin:
            admins = db.execute(select(func.count()).where(users.c.role == "admin")).scalar_one()
            if admins <= 1:
                raise Refused(f"{name!r} is the only admin.", hint="Make another user an admin first.")
        db.execute(update(users).where(users.c.id == user.id).values(role=role))
        audit.record(db, actor, "user.changed", name, role=role, was=user.role)
    return show_user(store, name=name)


def set_password(store: Store, *, name: str, password: str, actor: str) -> None:
    """Set (or replace) the password a user signs in to the web UI with; their open sessions end."""
    check_strength(password)
    user = show_user(store, name=name)
    hashed = hash_password(password)
    with store.begin() as db:
        db.execute(update(users).where(users.c.id == user.id).values(password_hash=hashed))
        db.execute(delete(web_sessions).where(web_sessions.c.user_id == user.id))
        audit.record(db, actor, "user.password_set", name)


def check_password(store: Store, *, name: str, password: str) -> User | None:
    """The user when the name and password match, else None (the same answer for an unknown name)."""
    with store.begin() as db:
        row = db.execute(select(users).where(users.c.name == name.strip())).mappings().first()
    # An unknown name still costs one hash, so timing does not tell which names exist.
    stored = row["password_hash"] if row is not None and row["password_hash"] else _decoy_hash()
    if not verify_password(password, stored) or row is None:
        return None
    if weaker_than_now(stored):  # made when the cost was lower: replaced now that the password is known
        with store.begin() as db:
            db.execute(update(users).where(users.c.id == row["id"]).values(password_hash=hash_password(password)))
    return User(row["id"], row["name"], row["role"], row["created_at"])


@functools.cache
def _decoy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def issue_token(store: Store, *, name: str, label: str, actor: str) -> tuple[Token, str]:
    """A new token for the user: (its record, the token itself, which is not stored and not shown again)."""
    label = label.strip() or "token"
    if len(label) > MAX_NAME:  # PostgreSQL refused a longer one at the insert (StringDataRightTruncation)
        raise InvalidInput(
            f"A token's label has at most {MAX_NAME} characters.", hint="Choose a shorter label.", field="label"
        )
    user = show_user(store, name=name)
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with store.begin() as db:
        token_id = db.execute(
            insert(api_tokens).values(user_id=user.id, digest=digest(plain), label=label, created_at=now)
        ).inserted_primary_key[0]  # type: ignore[index]
        audit.record(db, actor, "token.issued", name, token_id=token_id, label=label)
    return Token(int(token_id), name, label, now, None, None), plain


def list_tokens(store: Store, *, name: str | None = None) -> list[Token]:
    query = select(api_tokens, users.c.name).join(users, users.c.id == api_tokens.c.user_id).order_by(api_tokens.c.id)
    if name is not None:
        query = query.where(users.c.name == name)
    with store.read() as db:
        rows = db.execute(query).mappings().all()
    return [
        Token(row["id"], row["name"], row["label"], row["created_at"], row["last_used_at"], row["revoked_at"])
        for row in rows
    ]


def revoke_token(store: Store, *, token_id: int, actor: str) -> None:
    with store.begin() as db:
        row = db.execute(
            select(api_tokens.c.revoked_at, users.c.name)
            .join(users, users.c.id == api_tokens.c.user_id)
            .where(api_tokens.c.id == token_id)
        ).first()
        if row is None:
            raise UnknownName(
                f"There is no token {token_id}.", hint="Check the number in the list of tokens.", field="token"
            )
        if row.revoked_at is None:
            db.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(revoked_at=datetime.now(UTC)))
            audit.record(db, actor, "token.revoked", row.name, token_id=token_id)


def authenticate(store: Store, token: str) -> User | None:
    """The user a token belongs to, or None (unknown, malformed or revoked)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    with store.read() as db:
        row = db.execute(TOKEN_OWNER, {"digest": digest(token)}).mappings().first()
    if row is None:
        return None
    now = datetime.now(UTC)
    last_used = row["last_used_at"]
    # Written at most once a minute: every API request authenticates, and a write per request would make
    # reads queue behind a running export's checkpoints on SQLite.
    if last_used is None or as_utc(last_used) < now - LAST_USED_GRANULARITY:
        with store.begin() as db:
            db.execute(update(api_tokens).where(api_tokens.c.id == row["token_id"]).values(last_used_at=now))
    return User(row["id"], row["name"], row["role"], row["created_at"])
