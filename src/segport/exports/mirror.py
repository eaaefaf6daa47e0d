"""Mirror mode: take off the list the members this export put there and who have left its segments.

Only contacts the export itself added are ever removed (never one a person or another export put on the
list), and only their list membership goes: nobody is unsubscribed or deleted. An address still held by a
current member is kept. A run that would remove more than a set share of the list stops before removing
anything, unless allowed. Removals go by email through a temporary list (the documented way that needs no
contact ids), whatever their number.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, select

from segport import failpoints
from segport.clock import as_utc
from segport.constant_contact import ConstantContactClient, json_import_batches
from segport.errors import InvalidInput, NotFound
from segport.exports.context import RunContext
from segport.exports.decisions import Leaver
from segport.exports.members import is_member, member_condition
from segport.exports.service import ExportView
from segport.profiles.source import ProfileSource
from segport.segments.model import Combination, Group
from segport.store import Store
from segport.store.tables import sync_state

CHUNK = 500


class MassRemoval(InvalidInput):
    """The run would remove more of the list than allowed."""


def _member_keys(store: Store, source: ProfileSource, rules: list[Group | Combination]) -> set[str] | None:
    """The members' keys for an external source (other database); None when SQL can join."""
    if source.engine is store.engine:
        return None
    with source.engine.connect() as connection:
        key = source.table.c[source.key]
        return {str(k) for k in connection.execute(select(key).where(member_condition(store, source, rules))).scalars()}


def members_among(
    store: Store, source: ProfileSource, rules: list[Group | Combination], keys: Sequence[str]
) -> set[str]:
    """Which of these profile keys are members of the segments now."""
    external = _member_keys(store, source, rules)
    if external is not None:
        return {key for key in keys if key in external}
    found: set[str] = set()
    table = source.table
    for start in range(0, len(keys), CHUNK):
        chunk = list(keys[start : start + CHUNK])
        query = select(table.c[source.key]).where(
            table.c[source.key].in_(chunk), member_condition(store, source, rules)
        )
        with store.read() as db:
            found.update(str(key) for key in db.execute(query).scalars())
    return found


def leavers(
    store: Store, source: ProfileSource, export: ExportView, rules: list[Group | Combination], keys: Any = None
) -> list[Leaver]:
    """Profiles in the export's sync state that are no longer members of its active segments.

    `keys` (a SELECT of profile keys) limits the search to those profiles: a tracked run's changed ones.
    """
    query = select(
        sync_state.c.profile_key,
        sync_state.c.email,
        and_(sync_state.c.added_by_export, sync_state.c.outcome == "added"),
    ).where(sync_state.c.export_id == export.id)
    if keys is not None:
        query = query.where(sync_state.c.profile_key.in_(keys))
    external = _member_keys(store, source, rules)
    if external is None:
        with store.read() as db:
            found = db.execute(query.where(~is_member(store, source, rules, sync_state.c.profile_key)))
            return [Leaver(key, email, bool(removable)) for key, email, removable in found]
    with store.read() as db:
        return [
            Leaver(key, email, bool(removable)) for key, email, removable in db.execute(query) if key not in external
        ]


def still_used(
    store: Store, source: ProfileSource, export: ExportView, rules: list[Group | Combination], emails: Sequence[str]
) -> set[str]:
    """Of `emails`, those that a current member of the segments still has on the list."""
    external = _member_keys(store, source, rules)
    used: set[str] = set()
    for start in range(0, len(emails), CHUNK):
        query = select(sync_state.c.email, sync_state.c.profile_key).where(
            sync_state.c.export_id == export.id,
            sync_state.c.outcome == "added",
            sync_state.c.email.in_(list(emails[start : start + CHUNK])),
        )
        with store.read() as db:
            if external is None:
                query = query.where(is_member(store, source, rules, sync_state.c.profile_key))
                used.update(email for email, _ in db.execute(query))
            else:
                used.update(email for email, key in db.execute(query) if key in external)
    return used


MASS_REMOVAL_FIX = "If that is intended, run it again allowing a mass removal"


def needs_mass_removal_approval(message: str | None) -> bool:
    """Whether a run ended refusing a mass removal (its recorded message says so), so each face can say how
    to allow one its own way."""
    return bool(message) and MASS_REMOVAL_FIX in str(message)


def check_share(removing: int, list_size: int, share: float, allowed: bool, export_name: str) -> None:
    """Refuse a removal of more than `share` of the list unless allowed."""
    if allowed or removing == 0 or removing <= share * list_size:
        return
    percent = 100 * removing / max(list_size, 1)
    raise MassRemoval(
        f"This mirror run would remove {removing:,} of the list's {list_size:,} contacts ({percent:.0f} %), more "
        f"than the {share:.0%} allowed; nothing was removed.",
        hint=f"{MASS_REMOVAL_FIX} (or raise SEGPORT_MIRROR_MAX_REMOVAL_SHARE).",
        field="allow_mass_removal",
    )


def holding_list_name(run_id: int, created_at: datetime) -> str:
    """The temporary list's name, the same for every attempt of the run: a retry finds the list it created.

    The run's creation time (UTC, to the microsecond) is part of it: run ids are only unique in one database, and
    another segport on the same account (a second installation, or this one reinstalled) has its own run 7. A
    list of theirs found under our name would have its members taken off our list, and be deleted under them."""
    return f"segport removal run {run_id} ({as_utc(created_at).astimezone(UTC):%Y-%m-%d %H:%M:%S.%f} UTC)"


def remove_from_list(ctx: RunContext, emails: Sequence[str], *, first_attempt: bool = False) -> None:
    """Take `emails` off the export's list: a temporary list holds them (created, or found again by its name, and
    recorded on the run), ONE removal takes every member of that list off the target, then the temporary list is
    deleted (its contacts stay in the account). Every step may be done again after a crash without harm.

    `first_attempt`: no earlier attempt of the run got this far (the removal was planned only now), so none can
    have created the temporary list and died before recording it: the account's lists are not searched for it."""
    if not emails:
        return
    client = ctx.client
    run = ctx.record.read()
    holding = run["removal_list_id"]
    if holding is not None and not _exists(client, holding):
        holding = None  # deleted by the attempt that died before recording it
    if holding is None:
        name = holding_list_name(ctx.run_id, run["created_at"])
        found = None if first_attempt else client.find_list_by_name(name)
        holding = found.list_id if found is not None and found.deleted_at is None else client.create_list(name).list_id
        failpoints.point("holding-list-unrecorded")
        ctx.record.report(removal_list_id=holding)
        failpoints.point("holding-list-created")
    imports = [
        client.import_contacts_json(batch).activity_id
        for batch in json_import_batches(((email, None, None) for email in emails), [holding])
    ]
    client.wait_for_activities(imports)
    failpoints.point("holding-list-filled")
    removal = client.remove_members_of_list(holding, [ctx.export.list_id])
    client.wait_for_activities([removal.activity_id])
    failpoints.point("removed")
    with contextlib.suppress(NotFound):  # already gone: a retried delete found it deleted
        client.delete_list(holding)
    failpoints.point("holding-list-deleted")


def _exists(client: ConstantContactClient, list_id: str) -> bool:
    try:
        return client.get_list(list_id).deleted_at is None
    except NotFound:
        return False
