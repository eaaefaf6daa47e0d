"""The audit trail: who created, changed or removed what, who triggered which run, who agreed to what.

Append-only: entries are written in the same transaction as the change they describe, and nothing updates or
deletes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from sqlalchemy import Connection, insert, select

from segport.store import Store
from segport.store.tables import audit


@dataclass(frozen=True)
class Entry:
    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    detail: dict[str, object] | None


def record(db: Connection, actor: str, action: str, subject: str, **detail: object) -> None:
    """One entry, in the caller's transaction (so it exists exactly when the change does)."""
    db.execute(
        insert(audit).values(
            at=datetime.now(UTC),
            actor=actor,
            action=action,
            subject=subject,
            detail=orjson.dumps(detail, default=str).decode() if detail else None,
        )
    )


def entries(
    store: Store,
    *,
    limit: int = 100,
    action: str | None = None,
    subject: str | None = None,
    before: int | None = None,
) -> list[Entry]:
    """The newest entries first, optionally only one action (prefix, e.g. "export.") or one subject, and only
    those older than the entry `before` (the cursor: the last id a page showed)."""
    query = select(audit).order_by(audit.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(audit.c.id < before)
    if action:
        query = query.where(audit.c.action.startswith(action))
    if subject:
        query = query.where(audit.c.subject == subject)
    with store.read() as db:
        rows = db.execute(query).mappings().all()
    return [
        Entry(
            row["id"],
            row["at"],
            row["actor"],
            row["action"],
            row["subject"],
            orjson.loads(row["detail"]) if row["detail"] else None,
        )
        for row in rows
    ]
