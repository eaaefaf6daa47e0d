"""The end of a run: mirror mode's removals, then the run's final status and summary."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import insert, select, update

from segport.config import Settings
from segport.constant_contact import ConstantContactClient
from segport.exports import mirror, sync
from segport.exports.normalize import REMOVED
from segport.exports.run_log import batches_of, event, finish
from segport.exports.service import ExportView
from segport.store import Store
from segport.store.tables import exports, run_rows, runs
from segport.wording import count

if TYPE_CHECKING:
    from segport.exports.runner import Plan, RunState


def remove_leavers(
    store: Store,
    settings: Settings,
    export: ExportView,
    state: RunState,
    plan: Plan,
    client: ConstantContactClient,
    allow_mass_removal: bool,
) -> None:
    """Mirror mode: take off the list who left the segments, and addresses replaced by a new email."""
    if export.mode != "mirror":
        return
    run_id = state.run_id
    leaving = state.leavers
    if leaving is None:
        leaving = mirror.leavers(store, plan.source, export, plan.rules, plan.changed_keys)
    completed = [row["number"] for row in batches_of(store, run_id) if row["state"] == "completed"]
    replaced = sync.replaced_emails(store, run_id, completed)
    candidates = list(dict.fromkeys([leaver.email for leaver in leaving if leaver.removable] + replaced))
    kept = mirror.still_used(store, plan.source, export, plan.rules, candidates)
    emails = [email for email in candidates if email not in kept]
    if emails:
        size = state.list_size
        if size is None:
            size = client.get_list(export.list_id).membership_count or 0
        mirror.check_share(len(emails), size, settings.mirror_max_removal_share, allow_mass_removal, export.name)
    removed = mirror.remove_from_list(client, export.list_id, emails, run_id)
    keys = {leaver.email: leaver.key for leaver in leaving if leaver.removable}
    with store.begin() as db:
        sync.forget(db, export.id, [leaver.key for leaver in leaving])
        if emails:
            db.execute(
                insert(run_rows),
                [
                    {
                        "run_id": run_id,
                        "profile_key": keys.get(email, ""),
                        "email": email,
                        "reason": REMOVED,
                        "detail": "left the export's segments" if email in keys else "the profile's email changed",
                    }
                    for email in emails
                ],
            )
        db.execute(update(runs).where(runs.c.id == run_id).values(removed=removed, phase="done"))
    if emails:
        event(store, run_id, f"Took {removed:,} contacts off the list (mirror mode).")


def conclude(store: Store, run_id: int) -> None:
    sync.drop_staging(store, run_id)
    batches = batches_of(store, run_id)
    failed = [row for row in batches if row["state"] != "completed"]
    with store.begin() as db:
        counts = db.execute(select(runs).where(runs.c.id == run_id)).mappings().one()
        if not failed:
            # The sync state now reflects these profiles under these rules: the next run can read only changes.
            db.execute(
                update(exports)
                .where(exports.c.id == counts["export_id"])
                .values(synced_version=counts["profiles_to"], synced_fingerprint=counts["fingerprint"])
            )
    if failed:
        finish(
            store,
            run_id,
            "Failure",
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
    message = (
        "; ".join(parts) + "."
        if batches or counts["removed"] or counts["unchanged"]
        else ("The segments have no member that can be sent; nothing was sent.")
    )
    finish(store, run_id, "Successful", message)
