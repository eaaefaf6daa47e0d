"""Acknowledging what Constant Contact did with a run's batches, batch by batch, whatever ended the run.

For each accepted batch: wait for its activity, then in one fenced transaction move its members into the sync
state and drop its staging rows (a failed activity's members are named not added instead). Constant Contact's
status gives counts only, so when a batch reports errors or contacts it could not add, and when batches were
sent without their acceptance being recorded (uncertain), ONE export of the list's addresses says who is on it:

- a member of a batch with errors that is not on the list was refused: named, and not sent again until the
  profile changes (sync outcome `refused`);
- a member Constant Contact could not add because it unsubscribed is named as such (one export of the
  account's unsubscribed addresses);
- an uncertain member on the list was added (by this export, unless it was on the list before).

A run that ends Failure, is canceled, or dies leaves accepted batches behind; the export's next run settles
them first (`settle_earlier_runs`), so nothing Constant Contact accepted is sent again or forgotten, and a
mirror run still knows which contacts it put on the list.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, or_, select

from segport import failpoints
from segport.constant_contact import ConstantContactClient
from segport.constant_contact.models import Activity, OptOuts
from segport.errors import NotFound
from segport.exports import mirror, opt_outs, sync
from segport.exports import scope as scope_of
from segport.exports.context import RunContext
from segport.exports.normalize import NOT_ADDED, REASONS, REFUSED, UNSUBSCRIBED
from segport.exports.plan import Plan
from segport.runs.status import FINISHED, BatchState, Status
from segport.store.tables import run_batches, run_sent, runs
from segport.wording import count

UNSUBSCRIBED_SINCE = "unsubscribed in Constant Contact after this export put the contact on the list"


def acknowledge(ctx: RunContext, run_id: int, opted_out: OptOuts | None = None) -> tuple[int, int]:
    """Settle every batch of `run_id` (this run or an earlier one of the export); returns (batches, contacts)
    acknowledged now. `opted_out`: the account's unsubscribed addresses, when the caller read them already;
    widened in place to every one when only the recent ones were read and an import could not add someone."""
    record = ctx.record
    batches = record.batches(run_id)
    prepared = [row["number"] for row in batches if row["state"] == BatchState.PREPARED]
    if prepared:  # sent or not, nobody knows: reconciled with the list below
        with record.transaction() as db:
            sync.make_uncertain(db, run_id, prepared)
            record.forget_prepared(db, run_id=run_id)
    pending = [row for row in batches if row["activity_id"] and row["finished_at"] is None]
    if run_id == ctx.run_id:
        ctx.progress.polling(len(batches) - len(pending) - len(prepared), len(batches) - len(prepared))
    outcomes = _outcomes(ctx.client, [row["activity_id"] for row in pending])
    if run_id == ctx.run_id:
        ctx.progress.polling(len(batches) - len(prepared), len(batches) - len(prepared))
    unknown = [row["number"] for row in pending if outcomes.get(row["activity_id"]) is None]
    uncertain = _uncertain_emails(ctx, run_id, unknown)
    questioned = set(uncertain)
    for row in pending:
        activity = outcomes.get(row["activity_id"])
        # Reconciled: a batch with errors, and a batch whose activity did not complete (it may have been applied
        # in part, or an earlier attempt of the same batch, whose answer was lost, may have been).
        if activity is not None and (activity.state != "completed" or activity.status.problems):
            questioned.update(sync.batch_emails(ctx.store, run_id, row["number"]))
    on_list = ctx.client.emails_on_list(ctx.export.list_id, questioned) if questioned else set()
    if (opted_out is None or not opted_out.whole) and any(
        (activity.status.cannot_add_to_list_count or 0) for activity in outcomes.values() if activity
    ):
        # Who could not be added may have unsubscribed long before the last read: only a whole read names them.
        whole = ctx.client.opt_outs()
        if opted_out is None:
            opted_out = whole
        else:
            opted_out.widen(whole)
    contacts = 0
    emails = opted_out.emails if opted_out is not None else None
    # Nothing in the sync state yet (an export's first run): its members are inserted, not upserted.
    fresh = not sync.has_sync_state(ctx.store, ctx.export.id)
    for row in pending:
        activity = outcomes.get(row["activity_id"])
        if activity is None:
            continue
        contacts += _settle_batch(ctx, run_id, row, activity, on_list, emails, fresh=fresh)
    if uncertain:
        found = uncertain & on_list
        with record.transaction() as db:
            sync.reconcile_uncertain(db, ctx.export.id, run_id, found)
            record.event(
                f"Reconciled {count(len(uncertain), 'contact')} of batches whose acceptance was never recorded "
                f"with the list: {len(found):,} on it, the rest not sent.",
                db=db,
            )
    return len(pending) - len(unknown), contacts


def finish_polling(ctx: RunContext, plan: Plan, opted_out: OptOuts | None, *, complete: bool) -> None:
    """After this run's batches are acknowledged: its counts, and (when it read every member) the members it
    skipped, kept for tracked runs, and the members that unsubscribed in Constant Contact since the export put
    them on the list (named, and not sent again until they change)."""
    found: list[tuple[str, str]] = []
    since: list[dict[str, Any]] = []
    if complete and opted_out is not None and opted_out.emails:
        with ctx.store.read() as db:
            found = sync.added_among(db, ctx.export.id, sorted(opted_out.emails))
        current = mirror.members_among(ctx.store, plan.source, plan.rules, [key for key, _ in found])
        since = [_row(key, email, UNSUBSCRIBED, UNSUBSCRIBED_SINCE) for key, email in found if key in current]
    failpoints.point("opt-outs-found")
    batches = ctx.record.batches()
    unsubscribed = sum(row["cannot_add_count"] or 0 for row in batches)
    errors = sum(row["refused"] or 0 for row in batches)
    # One transaction marks them and names them: marked without their rows, a resumed run would find them
    # marked already and name nobody.
    with ctx.record.transaction() as db:
        sync.mark_unsubscribed(db, ctx.export.id, [key for key, _ in found])
        if complete:
            scope_of.forget_skipped(db, ctx.export.id, plan.scope)
            sync.record_skipped(db, ctx.export.id, ctx.run_id)
        ctx.record.add_rows(db, since)
        ctx.record.report(db, unsubscribed=unsubscribed + len(since), errors=errors, phase="removing")
        if complete and opted_out is not None:
            opt_outs.remember(db, ctx.export.id, opted_out)


def _settle_batch(
    ctx: RunContext,
    run_id: int,
    row: Any,
    activity: Activity,
    on_list: set[str],
    opted_out: set[str] | None,
    *,
    fresh: bool,
) -> int:
    record = ctx.record
    number = row["number"]
    status = activity.status
    messages = "; ".join(activity.error_messages)[:2000] or None
    held: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    if activity.state == "completed" and (status.problems or (status.cannot_add_to_list_count and opted_out)):
        for key, email in sync.batch_members(ctx.store, run_id, number):
            if opted_out is not None and email in opted_out:
                held[email] = "unsubscribed"
                rows.append(_row(key, email, UNSUBSCRIBED, REASONS[UNSUBSCRIBED]))
            elif status.problems and email not in on_list:
                held[email] = "refused"
                detail = REASONS[REFUSED] + (f": {messages}" if messages else "")
                rows.append(_row(key, email, REFUSED, detail[:1000]))
    arrived: set[str] = set()
    if activity.state != "completed":
        detail = f"{REASONS[NOT_ADDED]}: batch {number} ended {activity.state}"
        for key, email in sync.batch_members(ctx.store, run_id, number):
            if email in on_list:
                arrived.add(email)  # on the list after all: acknowledged like a completed batch's
            else:
                rows.append(_row(key, email, NOT_ADDED, detail))
    with record.transaction() as db:
        if activity.state == "completed":
            sync.acknowledge_batch(db, ctx.export.id, run_id, number, held=held, fresh=fresh)
        else:
            sync.acknowledge_batch(db, ctx.export.id, run_id, number, held={}, only=arrived)
            found = f"; {len(arrived):,} of its contacts are on the list all the same" if arrived else ""
            record.event(
                f"Batch {number} (activity {activity.activity_id}, {row['contacts']:,} contacts) ended "
                f"{activity.state}: {messages or 'no reason given'}{found}.",
                "error",
                db=db,
            )
        record.add_rows(db, rows, run_id=run_id)
        record.batch_finished(
            db,
            number,
            run_id=run_id,
            state=activity.state,
            person_count=status.person_count,
            error_count=status.problems,
            cannot_add_count=status.cannot_add_to_list_count,
            # Members Constant Contact did not put on the list: refused rows, or a failed batch's absent ones.
            refused=sum(1 for outcome in held.values() if outcome == "refused") + len(rows) - len(held),
            error_messages=messages,
        )
    return int(row["contacts"]) if activity.state == "completed" else 0


def _row(key: str, email: str, reason: str, detail: str) -> dict[str, Any]:
    return {"profile_key": key, "email": email, "reason": reason, "detail": detail}


def _uncertain_emails(ctx: RunContext, run_id: int, unknown: Sequence[int]) -> set[str]:
    """The run's uncertain members' addresses, after moving batches Constant Contact no longer knows (their
    activity is older than the 10 days it keeps them) among them."""
    if unknown:
        with ctx.record.transaction() as db:
            sync.make_uncertain(db, run_id, unknown)
            for number in unknown:
                ctx.record.batch_finished(
                    db,
                    number,
                    run_id=run_id,
                    state=BatchState.TIMED_OUT,
                    person_count=None,
                    error_count=None,
                    cannot_add_count=None,
                    refused=None,
                    error_messages="Constant Contact no longer knows this activity (it keeps them 10 days); its "
                    "contacts were reconciled with the list.",
                )
    return sync.uncertain_emails(ctx.store, ctx.export.id, run_id)


def _outcomes(client: ConstantContactClient, activity_ids: list[str]) -> dict[str, Activity | None]:
    """Each activity once it ended; None for one Constant Contact no longer knows (kept 10 days)."""
    if not activity_ids:
        return {}
    try:
        return dict(client.wait_for_activities(activity_ids))
    except NotFound:
        found: dict[str, Activity | None] = {}
        for activity_id in activity_ids:
            try:
                found[activity_id] = client.wait_for_activities([activity_id])[activity_id]
            except NotFound:
                found[activity_id] = None
        return found


def settle_earlier_runs(ctx: RunContext) -> None:
    """Before a new run plans: acknowledge what earlier runs of the export left unsettled (a run that failed,
    was canceled, or died and was never resumed), and delete their temporary removal lists."""
    with ctx.store.read() as db:
        unsettled = (
            db.execute(
                select(runs.c.id, runs.c.created_at, runs.c.removal_list_id, runs.c.removal_planned)
                .where(
                    runs.c.export_id == ctx.export.id,
                    runs.c.id != ctx.run_id,
                    runs.c.status.in_(FINISHED),
                    or_(
                        runs.c.removal_list_id.is_not(None),
                        # Stopped inside its removal (a Successful run always finished it): it may have made its
                        # temporary list and died before recording it.
                        and_(runs.c.removal_planned.is_not(None), runs.c.status != Status.SUCCESSFUL),
                        exists().where(run_sent.c.run_id == runs.c.id),
                        exists().where(
                            run_batches.c.run_id == runs.c.id,
                            or_(run_batches.c.finished_at.is_(None), run_batches.c.state == BatchState.PREPARED),
                        ),
                    ),
                )
                .order_by(runs.c.id)
            )
            .mappings()
            .all()
        )
    for earlier in unsettled:
        if earlier["removal_list_id"]:
            _delete_holding_list(ctx, earlier["id"], earlier["removal_list_id"])
        elif earlier["removal_planned"] is not None:
            _delete_unrecorded_holding_list(ctx, earlier["id"], earlier["created_at"])
        batches, contacts = acknowledge(ctx, earlier["id"])
        with ctx.record.transaction() as db:
            sync.drop_staging(db, earlier["id"])  # what is left was staged for batches that were never sent
            message = (
                f"{count(batches, 'batch', 'batches')} that run {earlier['id']} left ({contacts:,} contacts) "
                "acknowledged before this run planned."
            )
            ctx.record.event(message, db=db)
            ctx.record.note_for(db, earlier["id"], f"Settled by run {ctx.run_id}: {message}")


def _delete_unrecorded_holding_list(ctx: RunContext, run_id: int, created_at: datetime) -> None:
    """A run that planned a removal and ended inside it, its temporary list unrecorded: looked for by its name
    (one request), deleted if it was made; either way the run has nothing left to settle."""
    found = ctx.client.find_list_by_name(mirror.holding_list_name(run_id, created_at))
    if found is not None and found.deleted_at is None:
        _delete_holding_list(ctx, run_id, found.list_id)
        return
    with ctx.record.transaction() as db:
        ctx.record.holding_list_deleted(db, run_id=run_id)


def _delete_holding_list(ctx: RunContext, run_id: int, list_id: str) -> None:
    with contextlib.suppress(NotFound):  # deleted already
        ctx.client.delete_list(list_id)
    with ctx.record.transaction() as db:
        ctx.record.holding_list_deleted(db, run_id=run_id)
        ctx.record.note_for(db, run_id, f"Its temporary removal list was deleted by run {ctx.run_id}.")
        ctx.record.event(f"Deleted the temporary removal list run {run_id} left in the account.", db=db)
