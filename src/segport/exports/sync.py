"""The export's sync state: what Constant Contact acknowledged, per profile, and nothing else.

A batch's members are written to `run_sent` when the batch is handed over; once Constant Contact reports the
batch's activity completed, one INSERT ... SELECT ... ON CONFLICT moves them into `sync_state`. A batch that
failed, or was never accepted, leaves the sync state as it was, so the next run sends those members again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Integer, String, and_, delete, exists, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite

from segport.exports.normalize import SKIPPED
from segport.store import Store
from segport.store.tables import run_rows, run_sent, sync_skipped, sync_state

CHUNK = 500


def has_sync_state(store: Store, export_id: int) -> bool:
    with store.begin() as db:
        return db.execute(select(exists().where(sync_state.c.export_id == export_id))).scalar_one()


SENT_COLUMNS = (
    "run_id",
    "batch_number",
    "profile_key",
    "email",
    "raw_email",
    "raw_first_name",
    "raw_last_name",
    "on_list_before",
    "replaced_email",
)


def record_sent(store: Store, rows: list[tuple[Any, ...]]) -> None:
    """The members of a batch about to be sent (acknowledged later, or discarded): tuples in SENT_COLUMNS order.

    A million of these are written by a full run, so they go through the driver's executemany directly: through
    SQLAlchemy's per-row dict handling they cost about a third of the run.
    """
    if not rows:
        return
    with store.begin() as db:
        mark = "?" if db.dialect.paramstyle == "qmark" else "%s"
        # Fixed column names and placeholders only; the values travel as parameters.
        statement = f"INSERT INTO run_sent ({', '.join(SENT_COLUMNS)}) VALUES ({', '.join(mark for _ in SENT_COLUMNS)})"  # noqa: S608
        db.exec_driver_sql(statement, rows)


def discard_unaccepted(store: Store, run_id: int, accepted: int) -> None:
    """Forget members of batches a dead process handed over but Constant Contact never accepted."""
    with store.begin() as db:
        db.execute(delete(run_sent).where(run_sent.c.run_id == run_id, run_sent.c.batch_number > accepted))


def replaced_emails(store: Store, run_id: int, batches: Sequence[int]) -> list[str]:
    """Addresses this export had put on the list for profiles whose email changed, in the given batches."""
    with store.begin() as db:
        return list(
            db.execute(
                select(run_sent.c.replaced_email).where(
                    run_sent.c.run_id == run_id,
                    run_sent.c.batch_number.in_(batches),
                    run_sent.c.replaced_email.is_not(None),
                )
            ).scalars()
        )


def acknowledge(db: Connection, export_id: int, run_id: int, batches: Sequence[int]) -> None:
    """Move the members of completed batches into the sync state (in the caller's transaction)."""
    if batches:
        first = not db.execute(select(exists().where(sync_state.c.export_id == export_id))).scalar_one()
        _upsert(db, export_id, run_id, batches, plain=first)


def record_skipped(db: Connection, export_id: int, run_id: int) -> None:
    """Keep the members the run could not send (from its rows not sent), for runs that will not read them."""
    dialect = db.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    rows = select(
        literal(export_id, Integer), run_rows.c.profile_key, run_rows.c.email, run_rows.c.reason, run_rows.c.detail
    ).where(run_rows.c.run_id == run_id, run_rows.c.reason.in_(SKIPPED))
    statement = insert(sync_skipped).from_select(["export_id", "profile_key", "email", "reason", "detail"], rows)
    # The rows a tracked run copied from sync_skipped (members it did not read) are there already.
    db.execute(statement.on_conflict_do_nothing(index_elements=[sync_skipped.c.export_id, sync_skipped.c.profile_key]))


def drop_staging(store: Store, run_id: int) -> None:
    with store.begin() as db:
        db.execute(delete(run_sent).where(run_sent.c.run_id == run_id))


def _upsert(db: Connection, export_id: int, run_id: int, batches: Sequence[int], *, plain: bool) -> None:
    dialect = db.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    source = select(
        literal(export_id, Integer),
        run_sent.c.profile_key,
        run_sent.c.email,
        run_sent.c.raw_email,
        run_sent.c.raw_first_name,
        run_sent.c.raw_last_name,
        ~run_sent.c.on_list_before,
        literal("added", String),
        literal(run_id, Integer),
    ).where(run_sent.c.run_id == run_id, run_sent.c.batch_number.in_(batches))
    statement = insert(sync_state).from_select(
        [
            "export_id",
            "profile_key",
            "email",
            "raw_email",
            "raw_first_name",
            "raw_last_name",
            "added_by_export",
            "outcome",
            "last_run_id",
        ],
        source,
    )
    if plain:  # the export's first acknowledgement: nothing to conflict with, and a plain insert is faster
        db.execute(statement)
        return
    excluded = statement.excluded
    db.execute(
        statement.on_conflict_do_update(
            index_elements=[sync_state.c.export_id, sync_state.c.profile_key],
            # added_by_export keeps its first value: who put the contact on the list does not change.
            set_={
                "email": excluded.email,
                "raw_email": excluded.raw_email,
                "raw_first_name": excluded.raw_first_name,
                "raw_last_name": excluded.raw_last_name,
                "outcome": excluded.outcome,
                "last_run_id": excluded.last_run_id,
            },
        )
    )


def mark_unsubscribed(db: Connection, export_id: int, run_id: int, emails: Iterable[str]) -> None:
    """Members Constant Contact could not add because they unsubscribed: not sent again until they change."""
    pending = list(emails)
    if pending:
        for start in range(0, len(pending), CHUNK):
            db.execute(
                update(sync_state)
                .where(
                    sync_state.c.export_id == export_id,
                    sync_state.c.last_run_id == run_id,
                    sync_state.c.email.in_(pending[start : start + CHUNK]),
                )
                .values(outcome="unsubscribed")
            )


def forget(db: Connection, export_id: int, keys: Iterable[str]) -> None:
    """Members removed from the list: the export no longer has them there (in the caller's transaction)."""
    pending = list(keys)
    if pending:
        for start in range(0, len(pending), CHUNK):
            db.execute(
                delete(sync_state).where(
                    and_(
                        sync_state.c.export_id == export_id,
                        sync_state.c.profile_key.in_(pending[start : start + CHUNK]),
                    )
                )
            )
