"""One export run: plan, stream, normalise, check the limit, batch, submit, checkpoint, poll, record.

A run's row in `runs` holds its status and counts; every batch Constant Contact accepts is checkpointed in
`run_batches` in the same transaction that advances the run's counters and stores the rows it could not
send. A run that stopped half-way (the process died) is resumed by the next `exports run`: batches already
accepted are polled, never sent again, and the stream picks up after the last accepted batch.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
from sqlalchemy import insert, select, update

from segport.config import Settings
from segport.connections.service import client_for, http_session
from segport.constant_contact import ConstantContactClient, JsonImportBatcher
from segport.constant_contact.batching import ImportBatch
from segport.errors import SegportError
from segport.exports.locks import export_lock
from segport.exports.members import active_rules, count_members, member_query, stream_members
from segport.exports.normalize import NOT_ADDED, REASONS, UNSUBSCRIBED
from segport.exports.sending import BatchSender, Checkpoint
from segport.exports.service import ExportView, show_export
from segport.profiles.source import ProfileSource, load_source
from segport.store import Store
from segport.store.tables import run_batches, run_events, run_rows, runs

COUNTERS = ("members", "sent", "invalid_email", "duplicate", "truncated", "unsubscribed", "errors")


class RunProgress(Protocol):
    def started(self, run_id: int, members: int) -> None: ...
    def advanced(self, members_read: int, batches_sent: int) -> None: ...
    def polling(self, finished: int, total: int) -> None: ...


class _Silent:
    def started(self, run_id: int, members: int) -> None: ...
    def advanced(self, members_read: int, batches_sent: int) -> None: ...
    def polling(self, finished: int, total: int) -> None: ...


@dataclass
class _State:
    run_id: int
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    batches: int = 0
    position: int = 0
    pending_rows: list[dict[str, Any]] = field(default_factory=list)


def _now() -> datetime:
    return datetime.now(UTC)


def event(store: Store, run_id: int, message: str, level: str = "info") -> None:
    with store.begin() as db:
        db.execute(insert(run_events).values(run_id=run_id, at=_now(), level=level, message=message))


def _finish(store: Store, run_id: int, status: str, message: str, level: str = "info") -> None:
    with store.begin() as db:
        db.execute(update(runs).where(runs.c.id == run_id).values(status=status, message=message, finished_at=_now()))
        db.execute(insert(run_events).values(run_id=run_id, at=_now(), level=level, message=f"{status}: {message}"))


def start_or_resume(store: Store, export: ExportView, *, actor: str, trigger: str) -> tuple[int, bool]:
    """The run to work on: an unfinished one of this export (resumed), or a new one."""
    with store.begin() as db:
        unfinished = db.execute(
            select(runs.c.id)
            .where(runs.c.export_id == export.id, runs.c.status.in_(("Queued", "Processing")))
            .order_by(runs.c.id)
        ).scalar()
        if unfinished is not None:
            db.execute(update(runs).where(runs.c.id == unfinished).values(status="Processing"))
            db.execute(
                insert(run_events).values(
                    run_id=unfinished, at=_now(), level="warning", message=f"Resumed by {actor} after an interruption."
                )
            )
            return int(unfinished), True
        run_id = db.execute(
            insert(runs).values(
                export_id=export.id,
                status="Processing",
                trigger=trigger,
                triggered_by=actor,
                created_at=_now(),
                started_at=_now(),
                members=0,
                sent=0,
                invalid_email=0,
                duplicate=0,
                truncated=0,
                unsubscribed=0,
                errors=0,
                stream_position=0,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        db.execute(
            insert(run_events).values(
                run_id=run_id, at=_now(), level="info", message=f"Run started by {actor} ({trigger})."
            )
        )
        return int(run_id), False


def run_export(
    store: Store,
    settings: Settings,
    *,
    name: str,
    actor: str,
    trigger: str = "manual",
    progress: RunProgress | None = None,
    http: httpx.Client | None = None,
) -> int:
    """Run (or resume) the export now; returns the run id. The run's row says how it ended."""
    export = show_export(store, name=name)
    with export_lock(settings.home, export.id, export.name):
        run_id, resumed = start_or_resume(store, export, actor=actor, trigger=trigger)
        report = progress or _Silent()
        try:
            with http_session(settings, http) as session:
                client = client_for(store, settings, session, export.connection_id)
                _execute(store, settings, export, run_id, resumed, report, client)
        except SegportError as exc:
            _finish(store, run_id, "Failure", str(exc), "error")
    return run_id


def _execute(
    store: Store,
    settings: Settings,
    export: ExportView,
    run_id: int,
    resumed: bool,
    report: RunProgress,
    client: ConstantContactClient,
) -> None:
    source = load_source(store)
    rules, inactive = active_rules(store, export)
    if inactive:
        event(store, run_id, f"Inactive segments contribute no members: {', '.join(inactive)}.", "warning")
    if not rules:
        _finish(store, run_id, "Skipped", "None of the export's segments is active; nothing was sent.", "warning")
        return
    query = member_query(store, source, export, rules)
    state = _load_state(store, run_id)
    if not resumed:
        members = count_members(source, query)
        if members > settings.export_limit:
            _finish(
                store,
                run_id,
                "Skipped",
                f"The export's segments hold {members:,} profiles, over the limit of {settings.export_limit:,} "
                "profiles per export; nothing was sent.",
                "warning",
            )
            return
        state.counts["members"] = members
        with store.begin() as db:
            db.execute(update(runs).where(runs.c.id == run_id).values(members=members))
        event(store, run_id, f"{members:,} members in {', '.join(export.segments)}.")
    report.started(run_id, state.counts["members"])
    batcher = JsonImportBatcher(
        [export.list_id], max_contacts=settings.batch_max_contacts, max_bytes=settings.batch_max_bytes
    )
    sender = BatchSender(store, client, run_id, state.batches)
    try:
        last_position = _stream(store, source, query, export, run_id, state, batcher, sender, report)
        finished = batcher.flush()
        if finished is not None:
            state.counts["sent"] += finished.count
        if finished is not None or state.pending_rows or last_position > state.position:
            sender.hand_over(_checkpoint(state, finished, last_position))
        sender.finish()
    finally:
        sender.hand_over_end()
    report.advanced(last_position, sender.batches)
    _poll_and_conclude(store, source, export, run_id, client, report)


def _stream(
    store: Store,
    source: ProfileSource,
    query: Any,
    export: ExportView,
    run_id: int,
    state: _State,
    batcher: JsonImportBatcher,
    sender: BatchSender,
    report: RunProgress,
) -> int:
    """Read, check and batch every member after the resume point; returns the last stream position read."""
    resume_after = state.position
    last_position = resume_after
    for member in stream_members(source, query, export):
        if member.position <= resume_after:
            continue  # covered by an accepted batch; the stream is replayed only to rebuild duplicate detection
        if member.problem is not None:
            state.counts["duplicate" if member.problem == "duplicate" else "invalid_email"] += 1
            state.pending_rows.append(
                {
                    "run_id": run_id,
                    "profile_key": member.key,
                    "email": member.email or None,
                    "reason": member.problem,
                    "detail": member.detail or REASONS[member.problem],
                }
            )
        else:
            state.counts["truncated"] += member.truncated
            finished = batcher.add(member.email, member.first_name, member.last_name)
            if finished is not None:
                state.counts["sent"] += finished.count
                sender.hand_over(_checkpoint(state, finished, last_position))
        last_position = member.position
        if member.position % 20_000 == 0:
            report.advanced(member.position, sender.batches)
    return last_position


def _load_state(store: Store, run_id: int) -> _State:
    with store.begin() as db:
        row = db.execute(select(runs).where(runs.c.id == run_id)).mappings().one()
        batches = db.execute(select(run_batches.c.number).where(run_batches.c.run_id == run_id)).scalars().all()
    return _State(run_id, {name: int(row[name]) for name in COUNTERS}, len(batches), int(row["stream_position"]))


def _checkpoint(state: _State, batch: ImportBatch | None, stream_end: int) -> Checkpoint:
    """What the sender records once `batch` is accepted: the stream's state as it stood at the batch's end."""
    rows, state.pending_rows = state.pending_rows, []
    state.position = stream_end
    return Checkpoint(batch, stream_end, dict(state.counts), rows)


def _poll_and_conclude(
    store: Store,
    source: ProfileSource,
    export: ExportView,
    run_id: int,
    client: ConstantContactClient,
    report: RunProgress,
) -> None:
    with store.begin() as db:
        batches = (
            db.execute(select(run_batches).where(run_batches.c.run_id == run_id).order_by(run_batches.c.number))
            .mappings()
            .all()
        )
    pending = [row["activity_id"] for row in batches if row["finished_at"] is None]
    report.polling(len(batches) - len(pending), len(batches))
    finished = client.wait_for_activities(pending) if pending else {}
    report.polling(len(batches), len(batches))
    with store.begin() as db:
        for activity_id, activity in finished.items():
            db.execute(
                update(run_batches)
                .where(run_batches.c.run_id == run_id, run_batches.c.activity_id == activity_id)
                .values(
                    state=activity.state,
                    finished_at=_now(),
                    person_count=activity.status.person_count,
                    error_count=activity.status.error_count,
                    cannot_add_count=activity.status.cannot_add_to_list_count,
                )
            )
        batches = (
            db.execute(select(run_batches).where(run_batches.c.run_id == run_id).order_by(run_batches.c.number))
            .mappings()
            .all()
        )
    failed = [row for row in batches if row["state"] != "completed"]
    unsubscribed = sum(row["cannot_add_count"] or 0 for row in batches)
    errors = sum(row["error_count"] or 0 for row in batches) + sum(row["contacts"] for row in failed)
    with store.begin() as db:
        db.execute(update(runs).where(runs.c.id == run_id).values(unsubscribed=unsubscribed, errors=errors))
    for row in failed:
        event(
            store,
            run_id,
            f"Batch {row['number']} (activity {row['activity_id']}, {row['contacts']} contacts) ended {row['state']}.",
            "error",
        )
    if unsubscribed or failed:
        _record_not_added(store, source, export, run_id, client, batches, failed, unsubscribed)
    if failed:
        _finish(
            store,
            run_id,
            "Failure",
            f"{len(failed)} of {len(batches)} batches did not complete in Constant "
            "Contact; their contacts were not added.",
            "error",
        )
        return
    with store.begin() as db:
        sent = db.execute(select(runs.c.sent).where(runs.c.id == run_id)).scalar_one()
    message = (
        f"{sent:,} contacts sent in {len(batches)} batches."
        if batches
        else "The segments have no member that can be sent; nothing was sent."
    )
    _finish(store, run_id, "Successful", message)


def _record_not_added(
    store: Store,
    source: ProfileSource,
    export: ExportView,
    run_id: int,
    client: ConstantContactClient,
    batches: Sequence[Any],
    failed: Sequence[Any],
    unsubscribed: int,
) -> None:
    """Name the rows Constant Contact did not add: its import status gives counts only, so look them up."""
    opted_out = _unsubscribed_emails(client) if unsubscribed else set()
    ends = [row["stream_end"] for row in batches]
    failed_states = {row["number"]: row["state"] for row in failed}
    rows: list[dict[str, Any]] = []
    rules, _ = active_rules(store, export)
    for member in stream_members(source, member_query(store, source, export, rules), export):
        if member.problem is not None:
            continue
        number = bisect.bisect_left(ends, member.position) + 1
        if number in failed_states:
            rows.append(
                {
                    "run_id": run_id,
                    "profile_key": member.key,
                    "email": member.email,
                    "reason": NOT_ADDED,
                    "detail": f"{REASONS[NOT_ADDED]}: batch {number} ended {failed_states[number]}",
                }
            )
        elif member.email in opted_out:
            rows.append(
                {
                    "run_id": run_id,
                    "profile_key": member.key,
                    "email": member.email,
                    "reason": UNSUBSCRIBED,
                    "detail": REASONS[UNSUBSCRIBED],
                }
            )
        if len(rows) >= 5_000:
            with store.begin() as db:
                db.execute(insert(run_rows), rows)
            rows = []
    if rows:
        with store.begin() as db:
            db.execute(insert(run_rows), rows)


def _unsubscribed_emails(client: ConstantContactClient) -> set[str]:
    """Every unsubscribed address of the account, from one export activity (3 or 4 requests)."""
    activity = client.export_contacts(fields=["email_address"], status="unsubscribed")
    done = client.wait_for_activities([activity.activity_id])[activity.activity_id]
    if done.links.results is None:
        return set()
    return {
        (row.get("email_address") or "").strip().lower()
        for row in client.download_contact_export(done.links.results.href)
    }
