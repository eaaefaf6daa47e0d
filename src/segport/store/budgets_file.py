"""The SQLite store's request-budget file (`<name>-budgets.db`): opened, and made anew when it is damaged.

It holds only what the API keys spent this second and today. A file that is not a SQLite database any more (a
disk fault, another file copied over it) would otherwise fail every request of every run until someone
deleted it by hand; made anew, the runs go on, and Constant Contact's own limits (a 429, answered by waiting)
still guard the day's count that was lost. The damaged file is kept beside it, renamed, for a look.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import DatabaseError
from sqlalchemy.schema import CreateTable

from segport.store.tables import api_budgets

logger = logging.getLogger(__name__)

# What SQLite says of a file that is not one of its databases, or one whose pages are broken.
DAMAGED = {sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT}


def budgets_file_of(database: Path) -> Path:
    """Where the budgets of the SQLite store in `database` are kept: beside it, `<name>-budgets.db`."""
    return database.with_name(f"{database.stem}-budgets.db")


def open_budgets_file(path: Path, engine_for: Callable[[str], Engine]) -> Engine:
    """An engine (made by `engine_for` from a URL) on the budgets file at `path`, its table made if missing; a
    damaged file is moved aside first."""
    for attempt in (1, 2):
        seen = _inode(path)
        engine = engine_for(f"sqlite:///{path}")
        try:
            with engine.begin() as connection:  # several processes may get here at once
                connection.execute(CreateTable(api_budgets, if_not_exists=True))
            return engine
        except DatabaseError as exc:
            engine.dispose()
            if attempt == 2 or getattr(exc.orig, "sqlite_errorcode", None) not in DAMAGED:
                raise
            _move_aside(path, seen)
    raise AssertionError("unreachable: the second attempt returns or raises")


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None


def _move_aside(path: Path, seen: int | None) -> None:
    """Rename the damaged file (and its journal files), unless another process moved it or made it anew
    meanwhile: the check and the rename hold a lock on the folder, so two processes never both rename."""
    import fcntl

    folder = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        if seen is None or _inode(path) != seen:
            return
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        kept = path.with_name(f"{path.name}.damaged-{stamp}")
        for suffix in ("-wal", "-shm"):  # a journal of the damaged file must not be replayed into the new one
            journal = path.with_name(path.name + suffix)
            if journal.exists():
                os.replace(journal, kept.with_name(kept.name + suffix))
        os.replace(path, kept)
    finally:
        os.close(folder)  # and the lock with it
    logger.warning(
        "The request budget file %s was not a usable SQLite database; it was kept as %s and made anew (it holds "
        "only the requests counted this second and today).",
        path,
        kept.name,
    )
