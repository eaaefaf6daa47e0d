"""One export run: plan, stream, normalise, check the limit, diff, batch, send, acknowledge, remove, conclude.

The engine reports every fact to the run's record (runs/record.py), which decides the status. A run that
stopped half-way is resumed from its phase: while sending, accepted batches are never sent again and the
stream picks up after the last one; a batch that was prepared but whose acceptance was never recorded is sent
again (at most one per crash) with what was known of its contacts before it first left.

A failure while sending does not lose what was accepted before it: the run acknowledges those batches, then
ends Failure. If even that fails, the export's next run acknowledges them before it plans.
"""

from __future__ import annotations

import time
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, literal, select

from segport.constant_contact import JsonImportBatcher
from segport.errors import QuotaExceeded, ReauthorizationRequired, SegportError, WarehouseUnavailable
from segport.exports import acknowledging, decisions, finishing, mapping, mirror, opt_outs, sync, target_list
from segport.exports import scope as scope_of
from segport.exports.context import RunContext
from segport.exports.decisions import Action, Leaver
from segport.exports.members import Member, active_rules, count_members, held_back_unchanged, stream_members
from segport.exports.normalize import counter_for, shown
from segport.exports.plan import Plan, plan_for
from segport.exports.scope import Scope
from segport.exports.sending import Checkpoint, Pipeline
from segport.runs.record import Stop
from segport.runs.status import BatchState, Phase, Status
from segport.store.tables import RUN_COUNTERS
from segport.wording import count

# Errors that park a run rather than fail it: the daily quota resets, a person can sign in again.
PARKING = (QuotaExceeded, ReauthorizationRequired)


@dataclass
class Tally:
    """The sending phase's running state: counters and the resume point, as the last checkpoint had them."""

    counts: dict[str, int]
    position: int
    accepted: int  # batches accepted so far (their numbers are 1..accepted)
    handed: int = 0  # batches handed to the pipeline, accepted or not yet
    rows: list[dict[str, Any]] = field(default_factory=list)  # rows not sent since the last checkpoint
    members: list[tuple[Any, ...]] = field(default_factory=list)  # run_sent rows of the batch being built
    copy: Any = None  # an INSERT of more rows not sent, for the next checkpoint

    def checkpoint(self, number: int | None, batch: Any, stream_end: int) -> Checkpoint:
        """What the pipeline records once `batch` is accepted: the stream as it stood at the batch's end."""
        rows, self.rows = self.rows, []
        members, self.members = self.members, []
        copy, self.copy = self.copy, None
        self.position = stream_end
        return Checkpoint(number, batch, stream_end, dict(self.counts), rows, copy, members)


def work(ctx: RunContext) -> None:
    """Work the run from the phase it is in to its end; raises Stop("shutdown"|"lost") at a batch boundary."""
    row = ctx.record.read()
    rules, inactive = active_rules(ctx.store, ctx.export)
    size: int | None = None  # the list's member count when this run started (a new run asks; a resumed one not)
    if row["fingerprint"] is None:  # a new run: settle what earlier runs left, check the list is there, then plan
        acknowledging.settle_earlier_runs(ctx)
        size = target_list.size_now(ctx)
        if size is None:
            return
        if inactive:
            ctx.record.event(f"Inactive segments contribute no members: {', '.join(inactive)}.", "warning")
        plan = plan_for(ctx.store, ctx.export, full=bool(row["full"]), rules=rules)
        if plan is None:
            ctx.record.finish(Status.SKIPPED, "None of the export's segments is active; nothing was sent.", "warning")
            return
        ctx.record.report(
            profiles_from=plan.scope.from_version,
            profiles_to=plan.scope.to_version,
            fingerprint=plan.scope.fingerprint,
            incremental=plan.incremental,
        )
        if plan.scope.tracked:
            ctx.record.event("Reading only the profiles changed since the last successful run.")
    else:  # resumed: read exactly what it read before
        scope = Scope(row["profiles_to"], row["profiles_from"], row["fingerprint"])
        incremental = None if row["incremental"] is None else bool(row["incremental"])
        plan = plan_for(
            ctx.store, ctx.export, full=bool(row["full"]), rules=rules, scope=scope, incremental=incremental
        )
        if plan is None:
            ctx.record.finish(Status.SKIPPED, "None of the export's segments is active; nothing was sent.", "warning")
            return
    phase = Phase(row["phase"])
    failure: SegportError | None = None
    canceled = False
    leaving: list[Leaver] | None = None
    if phase == Phase.SENDING:
        if row["stream_position"] == 0 and not ctx.record.batches():
            checked = _check_before_sending(ctx, plan, size)
            if checked is None:
                return
            leaving = checked
        try:
            _send(ctx, plan, size)
        except Stop as stop:
            if stop.reason != "cancel":
                raise
            canceled = True  # what was accepted is acknowledged below, then it ends
        except PARKING:
            raise
        except WarehouseUnavailable as error:
            if ctx.warehouse.can_wait():  # waited for, then the run goes on from its last checkpoint
                raise
            failure = ctx.warehouse.gave_up(error)
        except SegportError as error:
            failure = error
        ctx.record.report(phase=Phase.POLLING)
        phase = Phase.POLLING
    if phase == Phase.POLLING:
        started = time.perf_counter()
        # Read once per run: who unsubscribed in Constant Contact, for the batches' refusals and for the members
        # the export put on the list before and who opted out since.
        opted_out = None
        try:
            if failure is None and not canceled:
                opted_out = opt_outs.read(ctx)
            acknowledging.acknowledge(ctx, ctx.run_id, opted_out)
        except PARKING:
            raise
        except SegportError as error:
            if failure is None:
                raise
            ctx.record.finish(
                Status.FAILURE,
                f"{failure} Acknowledging the batches Constant Contact had accepted failed too ({error}); the "
                "export's next run acknowledges them first.",
                "error",
            )
            return
        # Skipped members are kept for tracked runs only when the whole stream was read.
        complete = failure is None and not canceled and not ctx.control.cancel_requested()
        acknowledging.finish_polling(ctx, plan, opted_out, complete=complete)
        phase = Phase.REMOVING
        ctx.record.event(f"Activities finished and acknowledged in {time.perf_counter() - started:.1f} s.")
    if failure is not None:
        _fail_after_acknowledging(ctx, failure)
        return
    if canceled or ctx.control.cancel_requested():
        accepted = ctx.record.read()
        ctx.record.finish(
            Status.CANCELED,
            f"Canceled on request after {count(len(ctx.record.batches()), 'batch', 'batches')} "
            f"({accepted['sent']:,} contacts sent and recorded); nothing was removed. The next run sends the rest.",
            "warning",
        )
        return
    if phase == Phase.REMOVING:
        try:
            finishing.remove_leavers(ctx, plan, leaving)
        except SegportError as error:
            gone = target_list.deleted_meanwhile(ctx.client, ctx.export, error)
            if gone is None:
                raise
            raise gone from error
    finishing.conclude(ctx)


def _fail_after_acknowledging(ctx: RunContext, failure: SegportError) -> None:
    accepted = [row for row in ctx.record.batches() if row["state"] == BatchState.COMPLETED]
    contacts = sum(row["contacts"] for row in accepted)
    gone = target_list.deleted_meanwhile(ctx.client, ctx.export, failure)
    kept = (
        f" The {count(len(accepted), 'batch', 'batches')} Constant Contact had accepted before ({contacts:,} "
        f"contacts) are acknowledged{'.' if gone else '; the next run sends the rest.'}"
        if accepted
        else " Nothing had been accepted before it."
    )
    if gone is not None:
        ctx.record.finish(Status.FAILURE, f"{gone.message}{kept} {gone.hint}", "error")
        return
    ctx.record.finish(Status.FAILURE, f"{failure}{kept}", "error")


def _check_before_sending(ctx: RunContext, plan: Plan, size: int | None) -> list[Leaver] | None:
    """The limit and the mass-removal guard, before anything is sent; None when the run already ended. `size`:
    the list's count as the run started, when it asked."""
    store, export, settings = ctx.store, ctx.export, ctx.settings
    members = count_members(store, plan.source, plan.rules)
    if members > settings.export_limit:
        ctx.record.finish(
            Status.SKIPPED,
            f"The export's segments hold {members:,} profiles, over the limit of {settings.export_limit:,} "
            "profiles per export; nothing was sent.",
            "warning",
        )
        return None
    ctx.record.report(members=members)
    ctx.record.event(f"{members:,} members in {', '.join(export.segments)}.")
    leaving: list[Leaver] = []
    if ctx.mirror and plan.incremental:
        # Sending does not change who left (it only touches members), so the removal phase reuses these.
        leaving = mirror.leavers(store, plan.source, export, plan.rules, plan.changed_keys)
        removing = finishing.removal_candidates(ctx, leaving)
        if removing:
            if size is None:
                size = ctx.client.get_list(export.list_id).membership_count or 0
            ctx.record.report(list_size_before=size)
            allowed = bool(ctx.record.read()["allow_mass_removal"])
            try:
                mirror.check_share(len(removing), size, settings.mirror_max_removal_share, allowed, export.name)
            except mirror.MassRemoval as refused:
                ctx.record.finish(Status.FAILURE, f"{refused.message} Nothing was sent. {refused.hint}", "error")
                return None
    return leaving


def _send(ctx: RunContext, plan: Plan, size: int | None) -> None:
    """Stream, batch and send every member after the resume point (`size`: the list's count as the run started,
    when it asked)."""
    row = ctx.record.read()
    accepted = [batch for batch in ctx.record.batches() if batch["state"] != BatchState.PREPARED]
    tally = Tally({name: int(row[name]) for name in RUN_COUNTERS}, int(row["stream_position"]), len(accepted))
    prepared = [batch["number"] for batch in ctx.record.batches() if batch["state"] == BatchState.PREPARED]
    if prepared:  # a resumed run: these may have been sent; they are sent again with what was known before
        with ctx.record.transaction() as db:
            sync.make_uncertain(db, ctx.run_id, prepared)
            ctx.record.forget_prepared(db)
        ctx.record.event(
            f"Resending {count(len(prepared), 'batch', 'batches')} whose acceptance was not recorded before the "
            "interruption.",
            "warning",
        )
    presence = sync.presence_before(ctx.store, ctx.run_id)
    on_list = _emails_on_list_before(ctx, plan, size)
    ctx.progress.started(ctx.run_id, tally.counts["members"])
    started = time.perf_counter()
    batcher = JsonImportBatcher(
        [ctx.export.list_id], max_contacts=ctx.settings.batch_max_contacts, max_bytes=ctx.settings.batch_max_bytes
    )
    tally.handed = tally.accepted
    pipeline = Pipeline(ctx, tally.accepted)
    try:
        streamed = _stream(ctx, plan, tally, batcher, pipeline, on_list, presence)
        finished = batcher.flush()
        if plan.query.joined and plan.incremental:
            # Unchanged members were never read: the database left them out.
            tally.counts["unchanged"] = tally.counts["members"] - streamed
            tally.rows += _held_back_rows(ctx, plan)
            if plan.scope.tracked:
                tally.copy = _skipped_unchanged_rows(ctx, plan, tally.counts)
        if finished is not None:
            _hand_over(tally, pipeline, finished, streamed)
        elif tally.rows or tally.copy is not None or streamed > tally.position:
            pipeline.hand_over(tally.checkpoint(None, None, streamed))
        pipeline.finish()
    except Stop as stop:
        # The batch being built is dropped (a resumed run reads it again); those handed over are sent and
        # checkpointed before the run stops, unless the run is no longer this worker's.
        if stop.reason == "lost":
            pipeline.abandon()
        else:
            pipeline.finish()
        raise
    except BaseException:
        pipeline.abandon()
        _forget_unsent(ctx, pipeline)
        raise
    ctx.progress.advanced(streamed, pipeline.accepted)
    which = "changed profiles" if plan.scope.tracked else "members"
    ctx.record.event(
        f"Read {streamed:,} {which} and sent {count(tally.handed, 'batch', 'batches')} "
        f"in {time.perf_counter() - started:.1f} s."
    )


def _forget_unsent(ctx: RunContext, pipeline: Pipeline) -> None:
    """After sending failed: prepared batches that were never posted, or whose every attempt was refused,
    were certainly not sent. Those that may have been (a dropped connection, a 5xx) stay to be reconciled."""
    if pipeline.failed is None:
        return
    number, maybe_applied = pipeline.failed
    unsent = [
        batch["number"]
        for batch in ctx.record.batches()
        if batch["state"] == BatchState.PREPARED and (batch["number"] > number or not maybe_applied)
    ]
    if unsent:
        with ctx.record.transaction() as db:
            sync.forget_batches(db, ctx.run_id, unsent)
            ctx.record.forget_prepared(db, unsent)


def _hand_over(tally: Tally, pipeline: Pipeline, batch: Any, stream_end: int) -> None:
    tally.handed += 1
    tally.counts["sent"] += batch.count
    pipeline.hand_over(tally.checkpoint(tally.handed, batch, stream_end))


def _stream(
    ctx: RunContext,
    plan: Plan,
    tally: Tally,
    batcher: JsonImportBatcher,
    pipeline: Pipeline,
    on_list: set[str],
    presence: dict[str, bool],
) -> int:
    """Read, decide and batch every member after the resume point; returns the last position read."""
    resume_after = tally.position
    last_position = resume_after
    full = bool(ctx.record.read()["full"])
    fields = ctx.export.fields
    # Closed even when the loop stops early (a server-side cursor must not be left open).
    with closing(stream_members(ctx.store, plan.source, plan.query, ctx.export)) as members:
        for member in members:
            if member.position <= resume_after:
                continue  # covered by an accepted batch; the stream is replayed only to rebuild duplicate detection
            decision = decisions.decide(member, full=full)
            if decision.action is Action.SKIP:
                assert decision.reason is not None
                tally.counts[counter_for(decision.reason)] += 1
                tally.rows.append(_row(member, decision.reason, decision.detail))
            elif decision.action is Action.UNCHANGED:
                tally.counts["unchanged"] += 1
                if decision.reason is not None:
                    tally.rows.append(_row(member, decision.reason, decision.detail))
            else:
                extra = mapping.convert(fields, member.raw[3]) if fields else None
                finished = batcher.add(
                    member.email, member.first_name, member.last_name, extra.properties if extra else None
                )
                if finished is not None:  # the batch before this member is complete: its counts exclude this one
                    _hand_over(tally, pipeline, finished, last_position)
                    ctx.control.check()  # a batch boundary: stop here if asked to
                tally.counts["added" if decision.action is Action.ADD else "updated"] += 1
                # Per member, as the other counters: a name or a mapped value cut to fit or cleaned of control
                # characters, a value left out.
                tally.counts["truncated"] += member.truncated or bool(extra and extra.cut)
                tally.counts["cleaned"] += member.cleaned or bool(extra and extra.cleaned)
                tally.counts["left_out"] += bool(extra and extra.left_out)
                before = presence.get(member.email)
                if before is None:
                    before = decisions.on_list_before(member, on_list)
                tally.members.append(
                    (ctx.run_id, tally.handed + 1, member.key, member.email, *member.raw, before,
                     decisions.replaced_address(member))
                )  # fmt: skip
            last_position = member.position
            if member.position % 20_000 == 0:
                ctx.progress.advanced(member.position, pipeline.accepted)
    return last_position


def _emails_on_list_before(ctx: RunContext, plan: Plan, size: int | None) -> set[str]:
    """Addresses already on the list before this run sends: contacts this export did not put there."""
    client, export = ctx.client, ctx.export
    if plan.incremental:
        new = _new_member_emails(ctx, plan, limit=21)
        if not new:
            return set()
        if len(new) <= 20:
            return client.emails_on_list(export.list_id, new)
    if not (client.get_list(export.list_id).membership_count if size is None else size):
        return set()  # an empty list: nobody is on it before this run (one request instead of an export)
    return client.emails_on_list(export.list_id)


def _new_member_emails(ctx: RunContext, plan: Plan, limit: int) -> list[str]:
    found = []
    # Closed even when the loop stops early (a server-side cursor must not be left open).
    with closing(stream_members(ctx.store, plan.source, plan.query, ctx.export)) as members:
        for member in members:
            if member.synced is None and member.problem is None and member.prior_added_by_export is None:
                found.append(member.email)
                if len(found) >= limit:
                    break
    return found


def _row(member: Member, reason: str, detail: str | None) -> dict[str, Any]:
    email = shown(member.email) if member.email else None
    return {"profile_key": member.key, "email": email, "reason": reason, "detail": detail or reason}


def _held_back_rows(ctx: RunContext, plan: Plan) -> list[dict[str, Any]]:
    """Unchanged members the sync state holds back (unsubscribed, refused): named, as every run names them."""
    rows = []
    for key, email, outcome in held_back_unchanged(ctx.store, plan.source, ctx.export, plan.rules):
        reason, detail = decisions.HELD_BACK[outcome]
        rows.append({"profile_key": key, "email": email, "reason": reason, "detail": detail})
    return rows


def _skipped_unchanged_rows(ctx: RunContext, plan: Plan, counts: dict[str, int]) -> Any:
    """A tracked run's skipped members that it did not read: skipped again, for the reason recorded.

    Counted here; returns the SELECT that the run's last checkpoint copies into its rows (tens of thousands of
    rows move inside the database instead of through Python).
    """
    unchanged = scope_of.unchanged_skipped(ctx.export.id, plan.scope).subquery()
    with ctx.store.read() as db:
        for reason, number in db.execute(select(unchanged.c.reason, func.count()).group_by(unchanged.c.reason)):
            counts[counter_for(reason)] += number
            counts["unchanged"] -= number
    return select(
        literal(ctx.run_id), unchanged.c.profile_key, unchanged.c.email, unchanged.c.reason, unchanged.c.detail
    )
