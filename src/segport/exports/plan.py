"""What a run (or a dry run) works from: the profile source, the active rules, the member query and its scope.

A new run decides its scope (which profiles it reads) and whether it compares with the sync state; a resumed
run passes both back in, so it reads exactly the member stream it read before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from segport.exports import mapping, sync
from segport.exports import scope as scope_of
from segport.exports.members import MemberQuery, active_rules, member_query
from segport.exports.scope import Scope
from segport.exports.service import ExportView, check_fields
from segport.profiles.source import ProfileSource, load_source
from segport.segments.model import Combination, Group
from segport.store import Store


@dataclass(frozen=True)
class Plan:
    source: ProfileSource
    rules: list[Group | Combination]
    query: MemberQuery
    incremental: bool  # compares every member with the sync state (else all are new to it)
    scope: Scope

    @property
    def changed_keys(self) -> Any:
        """The keys whose sync state can have changed: a SELECT for a tracked run, else None (all of them)."""
        return scope_of.changed(self.scope) if self.scope.tracked else None


def plan_for(
    store: Store,
    export: ExportView,
    *,
    full: bool,
    rules: list[Group | Combination] | None = None,
    scope: Scope | None = None,
    incremental: bool | None = None,
) -> Plan | None:
    """The run's plan (a new scope unless a resumed run brings its own), or None when no segment is active."""
    source = load_source(store)
    source.check_columns()
    # The fields were checked when the export was saved; the profiles may have changed since (an import allowed
    # to drop them, another warehouse table): a clear failure here, not a KeyError in the member query.
    check_fields(source, export.email_field, export.first_name_field, export.last_name_field)
    mapping.check(source, export.fields)
    if rules is None:
        rules, _ = active_rules(store, export)
    if not rules:
        return None
    if incremental is None:
        incremental = not full and sync.has_sync_state(store, export.id)
    if scope is None:
        scope = scope_of.decide(store, source, export, rules, full=full or not incremental)
    keys = scope_of.candidates(export.id, scope) if scope.tracked else None
    query = member_query(store, source, export, rules, changed_only=incremental, keys=keys)
    return Plan(source, rules, query, incremental, scope)
