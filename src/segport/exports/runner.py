"""One export run: plan, stream, normalise, check the limit, diff, batch, submit, checkpoint, poll, record.

A run's row in `runs` holds its status, phase and counts; every batch Constant Contact accepts is
checkpointed in `run_batches` in the same transaction that advances the counters and stores the rows it
could not send. Runs are incremental: only members that are new or changed since the export's sync state
are sent (`full=True` sends all). In mirror mode the members that left are then taken off the list.

Acknowledging is in acknowledging.py, removals and the final status in finishing.py. A run that stopped
half-way is resumed from its phase: while sending, accepted batches are never sent again and the stream
picks up after the last one.
"""

from __future__ import annotations

import time
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import func, insert, literal, select

from segport.config import Settings
from segport.constant_contact import ConstantContactClient, JsonImportBatcher
from segport.constant_contact.batching import ImportBatch
from segport.exports import acknowledging, finishing, mirror, sync
from segport.exports import scope as scope_of
from segport.exports.control import RunControl, Stop
from segport.exports.members import (
    Member,
    MemberQuery,
    active_rules,
    count_members,
    member_query,
    stream_members,
    unsubscribed_unchanged,
)
from segport.exports.normalize import REASONS, UNSUBSCRIBED, counter_for
from segport.exports.run_log import event, finish, set_values
from segport.exports.scope import Scope
from segport.exports.sending import BatchSender, Checkpoint, SentRecorder
from segport.exports.service import ExportView
from segport.profiles.source import ProfileSource, load_source
from segport.segments.model import Combination, Group
from segport.store import Store
from segport.store.tables import RUN_COUNTERS, run_batches, run_rows, runs
from segport.wording import count


class RunProgress(Protocol):
    def started(self, run_id: int, members: int) -> None: ...
    def advanced(self, members_read: int, batches_sent: int) -> None: ...
    def polling(self, finished: int, total: int) -> None: ...


class Silent:
    def started(self, run_id: int, members: int) -> None: ...
    def advanced(self, members_read: int, batches_sent: int) -> None: ...
    def polling(self, finished: int, total: int) -> None: ...


@dataclass
class RunState:
    run_id: int
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RUN_COUNTERS, 0))
    batches: int = 0
    position: int = 0
    phase: str = "sending"
    full: bool = False
    handed: int = 0  # batches handed to the sender (accepted or not yet)
    pending_rows: list[dict[str, Any]] = field(default_factory=list)  # rows not sent, since the last batch
    batch_rows: list[tuple[Any, ...]] = field(default_factory=list)  # run_sent rows of the batch being built
    recorder: Any = None  # the SentRecorder of the sending phase
    control: Any = None  # the RunControl: cancel, shutdown, lease
    scope: Scope | None = None  # recorded when the run first planned
    pending_copy: Any = None  # an INSERT of more rows not sent, for the next checkpoint
    leavers: list[mirror.Leaver] | None = None  # mirror mode: found before sending (None after a resume)
    list_size: int | None = None  # the list's size before sending, when it was read


@dataclass
class Plan:
    """What a run works from: the profile source, the active rules, the member query and its scope."""

    source: ProfileSource
    rules: list[Group | Combination]
    query: MemberQuery
    incremental: bool
    scope: Scope

    @property
    def changed_keys(self) -> Any:
        """The keys whose sync state can have changed: a SELECT for a tracked run, else None (all of them)."""
        return scope_of.changed(self.scope) if self.scope.tracked else None


def _cancel_requested(control: RunControl) -> bool:
    try:
        control.check()
    except Stop as stop:
        return stop.reason == "cancel"
    return False


def plan_for(
    store: Store,
    export: ExportView,
    *,
    full: bool,
    rules: list[Group | Combination] | None = None,
    scope: Scope | None = None,
) -> Plan | None:
    """The run's plan (a new scope unless a resumed run brings its own), or None when no segment is active."""
    source = load_source(store)
    if rules is None:
        rules, _ = active_rules(store, export)
    if not rules:
        return None
    incremental = not full and sync.has_sync_state(store, export.id)
    if scope is None:
        scope = scope_of.decide(store, source, export, rules, full=full or not incremental)
    keys = scope_of.candidates(export.id, scope) if scope.tracked else None
    query = member_query(store, source, export, rules, changed_only=incremental, keys=keys)
    return Plan(source, rules, query, incremental, scope)


def execute_phases(
    store: Store,
    settings: Settings,
    export: ExportView,
    run_id: int,
    resumed: bool,
    report: RunProgress,
    client: ConstantContactClient,
    allow_mass_removal: bool,
    control: RunControl,
) -> None:
    """Work the run from the phase it is in to its end; raises Stop("shutdown"|"lost") at a batch boundary."""
    state = _load_state(store, run_id)
    state.control = control
    canceled = False
    rules, inactive = active_rules(store, export)
    if inactive and not resumed:
        event(store, run_id, f"Inactive segments contribute no members: {', '.join(inactive)}.", "warning")
    plan = plan_for(store, export, full=state.full, rules=rules, scope=state.scope)
    if plan is None:
        finish(store, run_id, "Skipped", "None of the export's segments is active; nothing was sent.", "warning")
        return
    if state.scope is None:  # a new run: a resumed one must read exactly what it read before
        state.scope = plan.scope
        set_values(
            store,
            run_id,
            profiles_from=plan.scope.from_version,
            profiles_to=plan.scope.to_version,
            fingerprint=plan.scope.fingerprint,
        )
        if plan.scope.tracked:
            event(store, run_id, "Reading only the profiles changed since the last successful run.")
    if state.phase == "sending":
        if not resumed and not _prepare(store, settings, export, run_id, state, plan, client, allow_mass_removal):
            return
        report.started(run_id, state.counts["members"])
        started = time.perf_counter()
        on_list = _emails_on_list_before(store, export, plan, client)
        try:
            read = _send(store, settings, export, run_id, state, plan, client, report, on_list)
        except Stop as stop:
            if stop.reason != "cancel":
                raise
            canceled, read = True, state.position  # what was accepted is acknowledged below, then it ends
        set_values(store, run_id, phase="polling")
        state.phase = "polling"
        which = "changed profiles" if plan.scope.tracked else "members"
        event(
            store,
            run_id,
            f"Read {read:,} {which} and sent {count(state.handed, 'batch', 'batches')} "
            f"in {time.perf_counter() - started:.1f} s.",
        )
    if state.phase == "polling":
        started = time.perf_counter()
        acknowledging.poll(store, export, run_id, plan, client, report)
        state.phase = "removing"
        event(store, run_id, f"Activities finished and acknowledged in {time.perf_counter() - started:.1f} s.")
    if canceled or _cancel_requested(control):
        sync.drop_staging(store, run_id)
        finish(
            store,
            run_id,
            "Canceled",
            f"Canceled on request after {state.handed} batches ({state.counts['sent']:,} contacts sent and "
            "recorded); nothing was removed. The next run sends the rest.",
            "warning",
        )
        return
    if state.phase == "removing":
        finishing.remove_leavers(store, settings, export, state, plan, client, allow_mass_removal)
    finishing.conclude(store, run_id)


def _prepare(
    store: Store,
    settings: Settings,
    export: ExportView,
    run_id: int,
    state: RunState,
    plan: Plan,
    client: ConstantContactClient,
    allow_mass_removal: bool,
) -> bool:
    """Limit and mass-removal checks before anything is sent; False when the run already ended."""
    members = count_members(store, plan.source, plan.rules)
    if members > settings.export_limit:
        finish(
            store,
            run_id,
            "Skipped",
            f"The export's segments hold {members:,} profiles, over the limit of {settings.export_limit:,} "
            "profiles per export; nothing was sent.",
            "warning",
        )
        return False
    state.counts["members"] = members
    set_values(store, run_id, members=members)
    event(store, run_id, f"{members:,} members in {', '.join(export.segments)}.")
    if export.mode == "mirror" and plan.incremental:
        # Sending does not change who left (it only touches members), so the removal phase reuses these.
        state.leavers = mirror.leavers(store, plan.source, export, plan.rules, plan.changed_keys)
        leaving = [leaver for leaver in state.leavers if leaver.removable]
        if leaving:
            state.list_size = size = client.get_list(export.list_id).membership_count or 0
            try:
                mirror.check_share(
                    len(leaving), size, settings.mirror_max_removal_share, allow_mass_removal, export.name
                )
            except mirror.MassRemoval as refused:
                finish(store, run_id, "Failure", f"{refused.message} Nothing was sent. {refused.hint}", "error")
                return False
    return True


def _emails_on_list_before(store: Store, export: ExportView, plan: Plan, client: ConstantContactClient) -> set[str]:
    """Addresses already on the list before this run sends: contacts this export did not put there."""
    if plan.incremental:
        new = _new_member_emails(store, export, plan, limit=21)
        if not new:
            return set()
        if len(new) <= 20:
            return set(client.contact_ids_by_email(export.list_id, new))
    if not client.get_list(export.list_id).membership_count:
        return set()  # an empty list: nobody is on it before this run (one request instead of an export)
    return set(client.contact_ids_by_email(export.list_id))


def _new_member_emails(store: Store, export: ExportView, plan: Plan, limit: int) -> list[str]:
    found = []
    # Closed even when the loop stops early (a server-side cursor must not be left open).
    with closing(stream_members(store, plan.source, plan.query, export)) as members:
        for member in members:
            if member.synced is None and member.problem is None and member.prior_added_by_export is None:
                found.append(member.email)
                if len(found) >= limit:
                    break
    return found


def _send(
    store: Store,
    settings: Settings,
    export: ExportView,
    run_id: int,
    state: RunState,
    plan: Plan,
    client: ConstantContactClient,
    report: RunProgress,
    on_list: set[str],
) -> int:
    """Stream, batch and send; returns how many members the stream gave (after the resume point)."""
    batcher = JsonImportBatcher(
        [export.list_id], max_contacts=settings.batch_max_contacts, max_bytes=settings.batch_max_bytes
    )
    sync.discard_unaccepted(store, run_id, state.batches)
    state.handed = state.batches
    sender = BatchSender(store, client, run_id, state.batches)
    state.recorder = SentRecorder(lambda rows: sync.record_sent(store, rows))
    try:
        try:
            streamed = _stream(store, export, run_id, state, plan, batcher, sender, report, on_list)
        except Stop:
            # The batch being built is dropped (a resumed run reads it again); those handed over are sent
            # and checkpointed before the run stops.
            sender.finish()
            state.recorder.finish()
            raise
        finished = batcher.flush()
        if plan.query.joined and plan.incremental:
            # Unchanged members were never read: the database left them out.
            state.counts["unchanged"] = state.counts["members"] - streamed
            state.pending_rows += _unsubscribed_unchanged_rows(store, export, plan, run_id)
            if plan.scope.tracked:
                state.pending_copy = _skipped_unchanged_rows(store, export, plan, run_id, state.counts)
        if finished is not None:
            _hand_over(store, state, sender, finished, streamed, state.batch_rows)
        elif state.pending_rows or state.pending_copy is not None or streamed > state.position:
            sender.hand_over(_checkpoint(state, None, streamed))
        sender.finish()
        state.recorder.finish()
    finally:
        sender.hand_over_end()
        state.recorder.finish()
    report.advanced(streamed, sender.batches)
    return streamed


def _hand_over(
    store: Store, state: RunState, sender: BatchSender, batch: ImportBatch, stream_end: int, rows: list[tuple[Any, ...]]
) -> None:
    state.handed += 1
    state.counts["sent"] += batch.count
    state.recorder.record([(state.run_id, state.handed, *row) for row in rows])
    sender.hand_over(_checkpoint(state, batch, stream_end))


def _stream(
    store: Store,
    export: ExportView,
    run_id: int,
    state: RunState,
    plan: Plan,
    batcher: JsonImportBatcher,
    sender: BatchSender,
    report: RunProgress,
    on_list: set[str],
) -> int:
    """Read, check, diff and batch every member after the resume point; returns the last position read."""
    resume_after = state.position
    last_position = resume_after
    # Closed even when the loop stops early (a server-side cursor must not be left open).
    with closing(stream_members(store, plan.source, plan.query, export)) as members:
        for member in members:
            if member.position <= resume_after:
                continue  # covered by an accepted batch; the stream is replayed only to rebuild duplicate detection
            if member.problem is not None:
                state.counts[counter_for(member.problem)] += 1
                state.pending_rows.append(_row(run_id, member, member.problem, member.detail))
            elif not state.full and not member.changed:
                state.counts["unchanged"] += 1
                if member.synced is not None and member.synced.outcome == "unsubscribed":
                    state.pending_rows.append(_row(run_id, member, UNSUBSCRIBED, UNSUBSCRIBED_EARLIER))
            else:
                finished = batcher.add(member.email, member.first_name, member.last_name)
                if finished is not None:  # the batch before this member is complete: its counts exclude this one
                    _hand_over(store, state, sender, finished, last_position, state.batch_rows)
                    state.batch_rows = []
                    state.control.check()  # a batch boundary: stop here if asked to
                state.counts["added" if member.synced is None else "updated"] += 1
                state.counts["truncated"] += member.truncated
                state.batch_rows.append(_sent_row(member, on_list))
            last_position = member.position
            if member.position % 20_000 == 0:
                report.advanced(member.position, sender.batches)
    return last_position


UNSUBSCRIBED_EARLIER = "unsubscribed in Constant Contact; not sent again until the profile changes"


def _row(run_id: int, member: Member, reason: str, detail: str | None) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "profile_key": member.key,
        "email": member.email or None,
        "reason": reason,
        "detail": detail or REASONS[reason],
    }


def _sent_row(member: Member, on_list: set[str]) -> tuple[Any, ...]:
    """A member's run_sent row, after (run_id, batch_number): see sync.SENT_COLUMNS."""
    synced = member.synced
    replaced = (
        synced.email
        if synced is not None and synced.added_by_export and synced.outcome == "added" and synced.email != member.email
        else None
    )
    prior = member.prior_added_by_export
    on_list_before = synced is None and (member.email in on_list if prior is None else not prior)
    return (member.key, member.email, *member.raw, on_list_before, replaced)


def _skipped_unchanged_rows(store: Store, export: ExportView, plan: Plan, run_id: int, counts: dict[str, int]) -> Any:
    """A tracked run's skipped members that it did not read: skipped again, for the reason recorded.

    Counted here; returns the INSERT that copies them into the run's rows, which the run's last checkpoint
    executes (tens of thousands of rows move inside the database instead of through Python).
    """
    unchanged = scope_of.unchanged_skipped(export.id, plan.scope).subquery()
    with store.begin() as db:
        for reason, number in db.execute(select(unchanged.c.reason, func.count()).group_by(unchanged.c.reason)):
            counts[counter_for(reason)] += number
            counts["unchanged"] -= number
    rows = select(literal(run_id), unchanged.c.profile_key, unchanged.c.email, unchanged.c.reason, unchanged.c.detail)
    return insert(run_rows).from_select(["run_id", "profile_key", "email", "reason", "detail"], rows)


def _unsubscribed_unchanged_rows(store: Store, export: ExportView, plan: Plan, run_id: int) -> list[dict[str, Any]]:
    return [
        {"run_id": run_id, "profile_key": key, "email": email, "reason": UNSUBSCRIBED, "detail": UNSUBSCRIBED_EARLIER}
        for key, email in unsubscribed_unchanged(store, plan.source, export, plan.rules)
    ]


def _load_state(store: Store, run_id: int) -> RunState:
    with store.begin() as db:
        row = db.execute(select(runs).where(runs.c.id == run_id)).mappings().one()
        batches = db.execute(select(run_batches.c.number).where(run_batches.c.run_id == run_id)).scalars().all()
    return RunState(
        run_id,
        {name: int(row[name]) for name in RUN_COUNTERS},
        len(batches),
        int(row["stream_position"]),
        row["phase"],
        bool(row["full"]),
        scope=None
        if row["fingerprint"] is None
        else Scope(row["profiles_to"], row["profiles_from"], row["fingerprint"]),
    )


def _checkpoint(state: RunState, batch: ImportBatch | None, stream_end: int) -> Checkpoint:
    """What the sender records once `batch` is accepted: the stream's state as it stood at the batch's end."""
    rows, state.pending_rows = state.pending_rows, []
    copy, state.pending_copy = state.pending_copy, None
    state.position = stream_end
    return Checkpoint(batch, stream_end, dict(state.counts), rows, copy)
