"""Short leases on a named piece of work that several processes may try at once (the database coordinates,
not Python locks): the first to insert the key holds it until it lets go or the lease expires."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite

from segport.errors import Refused
from segport.store.database import Store
from segport.store.tables import locks


@contextmanager
def held(
    store: Store, key: str, *, lease_seconds: float = 60.0, wait_seconds: float = 120.0, pause: float = 0.1
) -> Iterator[None]:
    """Hold the lock `key` (waiting while another process holds it) for the block."""
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    deadline = time.monotonic() + wait_seconds
    while not _take(store, key, owner, lease_seconds):
        if time.monotonic() > deadline:
            raise Refused(
                f"Another segport process has held {key!r} for more than {wait_seconds:.0f} s.",
                hint="It may be stuck; its lease ends by itself within a minute. Try again then.",
            )
        time.sleep(pause)
    try:
        yield
    finally:
        with store.begin() as db:
            db.execute(delete(locks).where(locks.c.key == key, locks.c.owner == owner))


def _take(store: Store, key: str, owner: str, lease_seconds: float) -> bool:
    now = datetime.now(UTC)
    with store.begin() as db:
        db.execute(delete(locks).where(locks.c.key == key, locks.c.expires_at < now))  # a dead holder's lease
        insert = postgresql.insert if db.dialect.name == "postgresql" else sqlite.insert
        taken = db.execute(
            insert(locks)
            .values(key=key, owner=owner, expires_at=now + timedelta(seconds=lease_seconds))
            .on_conflict_do_nothing(index_elements=[locks.c.key])
            .returning(locks.c.key)
        )
        return taken.first() is not None
