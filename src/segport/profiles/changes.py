"""Profile versions: which profiles each import added, changed or deleted.

Every load of profiles is a new version. When an import replaces embedded profiles that had the same fields,
it compares the old and the new table in SQL, inside its own transaction, and records the keys that differ.
An export whose sync state reflects version V then reruns by reading only the profiles changed after V,
instead of comparing a million members with its sync state. Imports read every row anyway; the comparison
costs them a second or two per million rows, and saves every export's rerun far more.

A version is not tracked (its changes are unknown, and reruns compare everything) when it follows no
embedded table, when the fields changed, when it points at an external table (which changes behind
segport's back), or when more than half of the rows changed (then comparing everything is as cheap).
Only the changes of the latest KEEP_VERSIONS versions are kept.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Integer, Table, exists, func, insert, literal, or_, select, union_all, update

from segport.store.tables import profile_changes, profile_versions

KEEP_VERSIONS = 20
MAX_TRACKED_SHARE = 0.5


def record_import(connection: Connection, old: Table | None, new: Table, key: str, rows: int) -> int:
    """A new version for `new` replacing `old` (None when they cannot be compared); returns its number."""
    version = _next_version(connection)
    connection.execute(
        insert(profile_versions).values(version=version, loaded_at=datetime.now(UTC), tracked=False, changed=None)
    )
    if old is None:
        return version
    connection.execute(
        insert(profile_changes).from_select(["version", "profile_key"], _differences(old, new, key, version))
    )
    # Counted, not taken from rowcount: psycopg reports -1 for INSERT ... SELECT.
    changed = connection.execute(select(func.count()).where(profile_changes.c.version == version)).scalar_one()
    if changed > MAX_TRACKED_SHARE * max(rows, 1):
        connection.execute(profile_changes.delete().where(profile_changes.c.version == version))
        connection.execute(
            update(profile_versions).where(profile_versions.c.version == version).values(changed=changed)
        )
    else:
        connection.execute(
            update(profile_versions).where(profile_versions.c.version == version).values(tracked=True, changed=changed)
        )
    _prune(connection, version)
    return version


def record_untracked(connection: Connection) -> int:
    """A new version whose changes are unknown (an external source was connected)."""
    version = _next_version(connection)
    connection.execute(insert(profile_versions).values(version=version, loaded_at=datetime.now(UTC), tracked=False))
    return version


def current_version(connection: Connection) -> int | None:
    return connection.execute(select(func.max(profile_versions.c.version))).scalar()


def tracked_between(connection: Connection, after: int, upto: int) -> bool:
    """True when the changed keys of every version in (after, upto] are known."""
    if upto < after:
        return False
    known = connection.execute(
        select(func.count()).where(
            profile_versions.c.version > after, profile_versions.c.version <= upto, profile_versions.c.tracked
        )
    ).scalar_one()
    return int(known) == upto - after


def changed_keys(after: int, upto: int) -> Any:
    """SELECT profile_key of the profiles added, changed or deleted by the versions in (after, upto]."""
    return (
        select(profile_changes.c.profile_key)
        .where(profile_changes.c.version > after, profile_changes.c.version <= upto)
        .distinct()
    )


def _next_version(connection: Connection) -> int:
    # Explicit numbers, not a sequence: a rolled-back import leaves no gap that would look like a lost version.
    return int(current_version(connection) or 0) + 1


def _differences(old: Table, new: Table, key: str, version: int) -> Any:
    """The keys that are new, changed in any field, or gone; NULL equals NULL."""
    same_key = old.c[key] == new.c[key]
    others = [column.name for column in new.columns if column.name != key]
    new_or_changed = (
        select(literal(version, Integer), new.c[key])
        .select_from(new.outerjoin(old, same_key))
        .where(or_(old.c[key].is_(None), *(old.c[name].is_distinct_from(new.c[name]) for name in others)))
    )
    deleted = select(literal(version, Integer), old.c[key]).where(~exists().where(same_key))
    return union_all(new_or_changed, deleted)


def _prune(connection: Connection, version: int) -> None:
    oldest_kept = version - KEEP_VERSIONS + 1
    connection.execute(profile_changes.delete().where(profile_changes.c.version < oldest_kept))
    connection.execute(
        update(profile_versions)
        .where(profile_versions.c.version < oldest_kept, profile_versions.c.tracked)
        .values(tracked=False)
    )
