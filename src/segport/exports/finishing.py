"""The end of a run: mirror mode's removals, then the run's final status and summary.

The removal is decided once: how many addresses, against the list's size before the run changed it, with the
approval given when the run was asked for. Both are kept on the run, so a run resumed half-way through its
removals neither asks again nor compares with a list it has already shrunk.
"""

from __future__ import annotations

from sqlalchemy import update

from segport.exports import decisions, mirror, sync
from segport.exports.context import RunContext
from segport.exports.decisions import Candidate, Leaver
from segport.exports.normalize import REMOVED
from segport.exports.plan import Plan
from segport.runs.status import BatchState, Phase, Status
from segport.store.tables import exports
from segport.wording import count


def removal_candidates(ctx: RunContext, leaving: list[Leaver]) -> list[Candidate]:
    return decisions.removal_candidates(leaving, sync.pending_removal_list(ctx.store, ctx.export.id))


def remove_leavers(ctx: RunContext, plan: Plan, leaving: list[Leaver] | None) -> None:
    """Mirror mode: take off the list who left the segments, and addresses replaced by a new email."""
    if not ctx.mirror:
        ctx.record.report(phase=Phase.DONE)
        return
    store, export, record = ctx.store, ctx.export, ctx.record
    if leaving is None:
        leaving = mirror.leavers(store, plan.source, export, plan.rules, plan.changed_keys)
    candidates = removal_candidates(ctx, leaving)
    kept = mirror.still_used(store, plan.source, export, plan.rules, [candidate.email for candidate in candidates])
    removing = decisions.removals(candidates, kept)
    row = record.read()
    # Planned before the temporary list is made: unplanned, no attempt of this run can have made one.
    first_attempt = row["removal_planned"] is None
    if removing and first_attempt:
        size = row["list_size_before"]
        if size is None:
            size = ctx.client.get_list(export.list_id).membership_count or 0
            record.report(list_size_before=size)
        mirror.check_share(
            len(removing), size, ctx.settings.mirror_max_removal_share, bool(row["allow_mass_removal"]), export.name
        )
        record.report(removal_planned=len(removing))
    mirror.remove_from_list(ctx, [removal.email for removal in removing], first_attempt=first_attempt)
    with record.transaction() as db:
        sync.forget(db, export.id, [leaver.key for leaver in leaving])
        sync.clear_pending_removals(db, export.id, [candidate.email for candidate in candidates if not candidate.left])
        record.add_rows(
            db,
            [
                {
                    "profile_key": removal.profile_key,
                    "email": removal.email,
                    "reason": REMOVED,
                    "detail": removal.detail,
                }
                for removal in removing
            ],
        )
        # removal_planned cleared: a finished run that still has it stopped inside its removal (settled later).
        record.report(db, removed=len(removing), phase=Phase.DONE, removal_list_id=None, removal_planned=None)
        if removing:
            record.event(f"Took {len(removing):,} contacts off the list (mirror mode).", db=db)


def conclude(ctx: RunContext) -> None:
    """The run's final status, from its batches and counts."""
    record = ctx.record
    batches = record.batches()
    # A batch whose activity did not complete fails the run only for the contacts that did not reach the list.
    failed = [row for row in batches if row["state"] != BatchState.COMPLETED and (row["refused"] or 0)]
    counts = record.read()
    with record.transaction() as db:
        sync.drop_staging(db, ctx.run_id)
        if not failed:
            # The sync state now reflects these profiles under these rules: the next run can read only changes.
            db.execute(
                update(exports)
                .where(exports.c.id == ctx.export.id)
                .values(synced_version=counts["profiles_to"], synced_fingerprint=counts["fingerprint"])
            )
    if failed:
        record.finish(
            Status.FAILURE,
            f"{len(failed)} of {count(len(batches), 'batch', 'batches')} did not complete in Constant "
            "Contact; their contacts were not added (the next run sends them again).",
            "error",
        )
        return
    parts = [
        f"{count(counts['sent'], 'contact')} sent in {count(len(batches), 'batch', 'batches')} "
        f"({counts['added']:,} new, {counts['updated']:,} changed)"
    ]
    if counts["unchanged"]:
        parts.append(f"{counts['unchanged']:,} unchanged, not sent again")
    if counts["removed"]:
        parts.append(f"{counts['removed']:,} taken off the list")
    refused = sum(row["refused"] or 0 for row in batches if row["state"] == BatchState.COMPLETED)
    if refused:
        parts.append(f"{count(refused, 'contact')} refused by Constant Contact (see the rows not sent)")
    message = (
        "; ".join(parts) + "."
        if batches or counts["removed"] or counts["unchanged"]
        else ("The segments have no member that can be sent; nothing was sent.")
    )
    record.finish(Status.SUCCESSFUL, message)
