"""Which profiles a run reads: only those changed since the export's last successful run, when that is exact.

A run's members are a function of the profiles and the membership rules. When the rules (segments, field
mapping) are the ones the last successful run used, and every profile import since then recorded its changed
keys (see profiles/changes.py), the members that can differ from the sync state are the changed profiles,
plus the duplicates of a changed member's address (whose twin may have left). Such a run is *tracked*: it
reads those few profiles and takes everything else from the sync state. Otherwise it compares every member
with the sync state in SQL, which is exact whatever changed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, union

from segport.exports.normalize import DUPLICATE
from segport.exports.service import ExportView
from segport.profiles import changes
from segport.profiles.source import ProfileSource
from segport.segments.compiler import check_rule, definition_digest
from segport.segments.model import Combination, Group
from segport.segments.service import resolver
from segport.store import Store
from segport.store.tables import exports, sync_skipped, sync_state


@dataclass(frozen=True)
class Scope:
    to_version: int | None  # the profile version the run reads
    from_version: int | None  # tracked runs read the profiles changed in (from_version, to_version]
    fingerprint: str

    @property
    def tracked(self) -> bool:
        return self.from_version is not None


def fingerprint(store: Store, source: ProfileSource, export: ExportView, rules: list[Group | Combination]) -> str:
    """A digest of everything that decides who the members are and what is read of them: the rules (combined
    segments resolved), the fields' types, the key and the field mapping."""
    checked = [check_rule(rule, source) for rule in rules]
    parts = [
        source.kind,
        source.key,
        export.email_field,
        export.first_name_field or "",
        export.last_name_field or "",
        definition_digest(checked, resolver(store)),
        repr(sorted((field.name, field.type) for field in source.fields)),
        # A changed mapping changes what every member sends: the next run compares them all, not only the
        # profiles that changed.
        repr([(item.source_field, item.target, item.send_empty) for item in export.fields]),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def decide(
    store: Store, source: ProfileSource, export: ExportView, rules: list[Group | Combination], *, full: bool
) -> Scope:
    """The scope of a new run of `export`."""
    digest = fingerprint(store, source, export, rules)
    with store.begin() as db:
        current = changes.current_version(db)
        synced = db.execute(
            select(exports.c.synced_version, exports.c.synced_fingerprint).where(exports.c.id == export.id)
        ).one()
        tracked = (
            not full
            and source.kind == "embedded"
            and current is not None
            and synced.synced_version is not None
            and synced.synced_fingerprint == digest
            and changes.tracked_between(db, synced.synced_version, current)
        )
    return Scope(current, synced.synced_version if tracked else None, digest)


def changed(scope: Scope) -> Any:
    assert scope.from_version is not None and scope.to_version is not None
    return changes.changed_keys(scope.from_version, scope.to_version)


def candidates(export_id: int, scope: Scope) -> Any:
    """The keys a tracked run reads: changed profiles, and duplicates of an address a changed profile had."""
    changed_keys = changed(scope)
    their_addresses = select(sync_state.c.email).where(
        sync_state.c.export_id == export_id, sync_state.c.profile_key.in_(changed_keys)
    )
    twins = select(sync_skipped.c.profile_key).where(
        sync_skipped.c.export_id == export_id,
        sync_skipped.c.reason == DUPLICATE,
        sync_skipped.c.email.in_(their_addresses),
    )
    return union(changed_keys, twins)


def unchanged_skipped(export_id: int, scope: Scope) -> Any:
    """The skipped members a tracked run does not read: they are still members, skipped for the same reason."""
    return select(sync_skipped.c.profile_key, sync_skipped.c.email, sync_skipped.c.reason, sync_skipped.c.detail).where(
        sync_skipped.c.export_id == export_id, sync_skipped.c.profile_key.not_in(candidates(export_id, scope))
    )


def forget_skipped(db: Any, export_id: int, scope: Scope | None) -> None:
    """Before a run records its skipped members: drop the ones it read again (all of them when not tracked)."""
    statement = sync_skipped.delete().where(sync_skipped.c.export_id == export_id)
    if scope is not None and scope.tracked:
        statement = statement.where(sync_skipped.c.profile_key.in_(candidates(export_id, scope)))
    db.execute(statement)
