"""Waiting for a run's import activities, naming the rows Constant Contact did not add, and moving the rest
into the sync state (with the members the run skipped), all in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from segport.constant_contact import ConstantContactClient
from segport.exports import scope as scope_of
from segport.exports import sync
from segport.exports.normalize import NOT_ADDED, REASONS, UNSUBSCRIBED
from segport.exports.run_log import batches_of, event, now
from segport.exports.service import ExportView
from segport.store import Store
from segport.store.tables import run_batches, run_rows, run_sent, runs

if TYPE_CHECKING:
    from segport.exports.runner import Plan, RunProgress


def poll(
    store: Store, export: ExportView, run_id: int, plan: Plan, client: ConstantContactClient, report: RunProgress
) -> None:
    """Wait for every batch's activity, name the rows not added, and acknowledge the rest in the sync state."""
    batches = batches_of(store, run_id)
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
                    finished_at=now(),
                    person_count=activity.status.person_count,
                    error_count=activity.status.error_count,
                    cannot_add_count=activity.status.cannot_add_to_list_count,
                )
            )
    batches = batches_of(store, run_id)
    failed = [row for row in batches if row["state"] != "completed"]
    unsubscribed = sum(row["cannot_add_count"] or 0 for row in batches)
    errors = sum(row["error_count"] or 0 for row in batches) + sum(row["contacts"] for row in failed)
    for row in failed:
        event(
            store,
            run_id,
            f"Batch {row['number']} (activity {row['activity_id']}, {row['contacts']} contacts) ended {row['state']}.",
            "error",
        )
    rows: list[dict[str, Any]] = []
    opted_out: set[str] = set()
    if unsubscribed or failed:
        rows, opted_out = _not_added(store, run_id, client, failed, unsubscribed)
    completed = [row["number"] for row in batches if row["state"] == "completed"]
    with store.begin() as db:
        if rows:
            db.execute(insert(run_rows), rows)
        scope_of.forget_skipped(db, export.id, plan.scope)
        sync.record_skipped(db, export.id, run_id)
        sync.acknowledge(db, export.id, run_id, completed)
        sync.mark_unsubscribed(db, export.id, run_id, opted_out)
        db.execute(
            update(runs).where(runs.c.id == run_id).values(unsubscribed=unsubscribed, errors=errors, phase="removing")
        )


def _not_added(
    store: Store, run_id: int, client: ConstantContactClient, failed: Sequence[Any], unsubscribed: int
) -> tuple[list[dict[str, Any]], set[str]]:
    """The members Constant Contact did not add, looked up: its import status gives counts only."""
    opted_out = _unsubscribed_emails(client) if unsubscribed else set()
    failed_states = {row["number"]: row["state"] for row in failed}
    rows: list[dict[str, Any]] = []
    named: set[str] = set()
    with store.engine.connect() as db:
        sent = db.execution_options(yield_per=10_000).execute(
            select(run_sent.c.batch_number, run_sent.c.profile_key, run_sent.c.email).where(run_sent.c.run_id == run_id)
        )
        for number, key, email in sent:
            if number in failed_states:
                detail = f"{REASONS[NOT_ADDED]}: batch {number} ended {failed_states[number]}"
                rows.append(
                    {"run_id": run_id, "profile_key": key, "email": email, "reason": NOT_ADDED, "detail": detail}
                )
            elif email in opted_out:
                rows.append(
                    {
                        "run_id": run_id,
                        "profile_key": key,
                        "email": email,
                        "reason": UNSUBSCRIBED,
                        "detail": REASONS[UNSUBSCRIBED],
                    }
                )
                named.add(email)
    return rows, named


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
