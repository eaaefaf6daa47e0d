"""The export's sync state: what Constant Contact acknowledged, per profile, and nothing else.

A batch's members are written to `run_sent` before the batch is sent (with whether each contact was on the
list before, which decides whether mirror mode may ever remove it). When Constant Contact reports the batch's
activity completed, one INSERT ... SELECT ... ON CONFLICT moves them into `sync_state` and the staging rows
go, in one transaction per batch. A batch that failed leaves the sync state as it was, so the next run sends
those members again. Members of a batch whose acceptance was never recorded (the process died, or no attempt
got a clear answer) move to batch 0 and are reconciled with the list (acknowledging.py).

Every function that writes takes the caller's connection: the run's fenced transaction (runs/record.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    delete,
    exists,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from segport.exports.normalize import SKIPPED
from segport.store import Store
from segport.store.bulk import append_beside_a_reader, large_page_cache
from segport.store.tables import (
    UNCERTAIN_BATCH,
    pending_removals,
    run_rows,
    run_sent,
    runs,
    sync_skipped,
    sync_state,
)

CHUNK = 500


def has_sync_state(store: Store, export_id: int) -> bool:
    with store.read() as db:
        return db.execute(select(exists().where(sync_state.c.export_id == export_id))).scalar_one()


SENT_COLUMNS = (
    "run_id",
    "batch_number",
    "profile_key",
    "email",
    "raw_email",
    "raw_first_name",
    "raw_last_name",
    "raw_extra",
    "on_list_before",
    "replaced_email",
)


# run_sent's columns in the order of the tuples. Their values need no bind processor: text, integers and
# Python booleans, which both drivers store as SQLAlchemy would.
_SENT = Table("run_sent", MetaData(), *(Column(name, run_sent.c[name].type) for name in SENT_COLUMNS))


def record_sent(db: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """The members of a batch about to be sent: tuples in SENT_COLUMNS order.

    A million of these are written by a full run, so they go through the driver (COPY on PostgreSQL, a
    thousand rows per statement on SQLite): through SQLAlchemy's per-row dict handling they cost about a third
    of the run. They are written by the sending pipeline's thread while the run's reading thread works (see
    bulk.append_beside_a_reader).
    """
    append_beside_a_reader(db, _SENT, rows)


def forget_batches(db: Connection, run_id: int, numbers: Sequence[int]) -> None:
    """The staged members of batches that were certainly not sent (refused, never posted)."""
    if numbers:
        db.execute(delete(run_sent).where(run_sent.c.run_id == run_id, run_sent.c.batch_number.in_(list(numbers))))


def make_uncertain(db: Connection, run_id: int, numbers: Sequence[int]) -> None:
    """Batches that may or may not have been applied: their members wait in batch 0 for reconciliation (a
    member already waiting there from an earlier attempt keeps its first row)."""
    if not numbers:
        return
    demoted = select(run_sent.c.profile_key).where(
        run_sent.c.run_id == run_id, run_sent.c.batch_number == UNCERTAIN_BATCH
    )
    db.execute(
        delete(run_sent).where(
            run_sent.c.run_id == run_id,
            run_sent.c.batch_number.in_(list(numbers)),
            run_sent.c.profile_key.in_(demoted),
        )
    )
    db.execute(
        update(run_sent)
        .where(run_sent.c.run_id == run_id, run_sent.c.batch_number.in_(list(numbers)))
        .values(batch_number=UNCERTAIN_BATCH)
    )


def presence_before(store: Store, run_id: int) -> dict[str, bool]:
    """For the members of this run's uncertain batches: whether each contact was on the list before the run
    first sent it. A resumed run sends them again and must not ask Constant Contact again (it may have added
    them already)."""
    with store.read() as db:
        return {
            email: bool(before)
            for email, before in db.execute(
                select(run_sent.c.email, run_sent.c.on_list_before).where(
                    run_sent.c.run_id == run_id, run_sent.c.batch_number == UNCERTAIN_BATCH
                )
            )
        }


def batch_emails(store: Store, run_id: int, number: int) -> list[str]:
    with store.read() as db:
        return list(
            db.execute(
                select(run_sent.c.email).where(run_sent.c.run_id == run_id, run_sent.c.batch_number == number)
            ).scalars()
        )


def batch_members(store: Store, run_id: int, number: int) -> list[tuple[str, str]]:
    """(profile key, email) of a staged batch."""
    with store.read() as db:
        return [
            (str(key), str(email))
            for key, email in db.execute(
                select(run_sent.c.profile_key, run_sent.c.email).where(
                    run_sent.c.run_id == run_id, run_sent.c.batch_number == number
                )
            )
        ]


def acknowledge_batch(
    db: Connection,
    export_id: int,
    run_id: int,
    number: int,
    *,
    held: dict[str, str],
    only: set[str] | None = None,
    fresh: bool = False,
) -> None:
    """Move a completed batch's members (or `only` these of them) into the sync state, then drop its staging rows.

    `held` names the members Constant Contact did not put on the list, with the outcome to keep for them
    (unsubscribed, refused): they are not sent again until their profile changes. The addresses the members
    replaced are kept: a mirror export removes them, and any export knows it put them on the list.
    `fresh`: the export had no sync state when this acknowledgement began, so the members are most likely new
    to it (see `_insert_new`).
    """
    chosen = sorted(only) if only is not None else None
    with large_page_cache(db):
        for start in range(0, len(chosen), CHUNK) if chosen is not None else [0]:
            query = select(run_sent).where(run_sent.c.run_id == run_id, run_sent.c.batch_number == number)
            if chosen is not None:
                query = query.where(run_sent.c.email.in_(chosen[start : start + CHUNK]))
            rows = query.subquery()
            _keep_replaced(db, export_id, rows)
            if fresh and chosen is None:
                _insert_new(db, export_id, run_id, rows)
            else:
                _upsert(db, export_id, run_id, rows, plain=False)
        for outcome in sorted(set(held.values())):
            emails = [email for email, kept in held.items() if kept == outcome]
            mark_outcome(db, export_id, run_id, emails, outcome)
        forget_batches(db, run_id, [number])


def uncertain_emails(store: Store, export_id: int, run_id: int) -> set[str]:
    """The addresses of this run's uncertain members that no acknowledged batch of the run settled."""
    with store.read() as db:
        return set(db.execute(select(_unsettled(export_id, run_id).c.email)).scalars())


def _unsettled(export_id: int, run_id: int) -> Any:
    return (
        select(run_sent)
        .where(
            run_sent.c.run_id == run_id,
            run_sent.c.batch_number == UNCERTAIN_BATCH,
            ~exists().where(
                sync_state.c.export_id == export_id,
                sync_state.c.profile_key == run_sent.c.profile_key,
                sync_state.c.last_run_id == run_id,
            ),
        )
        .subquery()
    )


def reconcile_uncertain(db: Connection, export_id: int, run_id: int, on_list: set[str]) -> None:
    """Members of batches whose fate was unknown: those on the list now were added (by this export unless they
    were on it before); the others were not and have no sync state, so a later run sends them. Members that
    the run sent again in an acknowledged batch are settled already."""
    found = sorted(on_list)
    for start in range(0, len(found), CHUNK):
        unsettled = _unsettled(export_id, run_id)
        rows = select(unsettled).where(unsettled.c.email.in_(found[start : start + CHUNK])).subquery()
        _keep_replaced(db, export_id, rows)
        _upsert(db, export_id, run_id, rows, plain=False)
    forget_batches(db, run_id, [UNCERTAIN_BATCH])


def _keep_replaced(db: Connection, export_id: int, rows: Any) -> None:
    insert = postgresql.insert if db.dialect.name == "postgresql" else sqlite.insert
    replaced = select(literal(export_id, Integer), rows.c.replaced_email, rows.c.profile_key).where(
        rows.c.replaced_email.is_not(None)
    )
    db.execute(
        insert(pending_removals)
        .from_select(["export_id", "email", "profile_key"], replaced)
        .on_conflict_do_nothing(index_elements=[pending_removals.c.export_id, pending_removals.c.email])
    )


def pending_removal_list(store: Store, export_id: int) -> list[tuple[str, str]]:
    """(email, profile key) of addresses the export must still take off its list."""
    with store.read() as db:
        return [
            (str(email), str(key))
            for email, key in db.execute(
                select(pending_removals.c.email, pending_removals.c.profile_key)
                .where(pending_removals.c.export_id == export_id)
                .order_by(pending_removals.c.email)
            )
        ]


def clear_pending_removals(db: Connection, export_id: int, emails: Iterable[str]) -> None:
    pending = list(emails)
    for start in range(0, len(pending), CHUNK):
        db.execute(
            delete(pending_removals).where(
                pending_removals.c.export_id == export_id,
                pending_removals.c.email.in_(pending[start : start + CHUNK]),
            )
        )


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


def drop_staging(db: Connection, run_id: int) -> None:
    db.execute(delete(run_sent).where(run_sent.c.run_id == run_id))


def forget_export(db: Connection, export_id: int) -> None:
    """Delete an export's sync state and its runs' staged members, in the transaction that removes the export.
    No foreign key cascades them (see store.tables), and SQLite gives the next export or run the highest id
    again: left behind, they would become the new one's."""
    db.execute(delete(run_sent).where(run_sent.c.run_id.in_(select(runs.c.id).where(runs.c.export_id == export_id))))
    db.execute(delete(sync_state).where(sync_state.c.export_id == export_id))


def _insert_new(db: Connection, export_id: int, run_id: int, rows: Any) -> None:
    """Members expected to be new to the sync state: a plain INSERT, or the upsert when one of them is not.

    On PostgreSQL ON CONFLICT checks and locks each row's key before inserting it: 6.6 s instead of 4.4 s for
    the million members of an export's first run (SQLite: the same either way). The INSERT runs in a savepoint,
    so a member that is in the sync state after all (a key read twice in one run, another process acting for the
    export) costs only the retry, never the transaction.
    """
    try:
        with db.begin_nested():
            _upsert(db, export_id, run_id, rows, plain=True)
    except IntegrityError:
        _upsert(db, export_id, run_id, rows, plain=False)


def _upsert(db: Connection, export_id: int, run_id: int, rows: Any, *, plain: bool) -> None:
    dialect = db.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    source = select(
        literal(export_id, Integer),
        rows.c.profile_key,
        rows.c.email,
        rows.c.raw_email,
        rows.c.raw_first_name,
        rows.c.raw_last_name,
        rows.c.raw_extra,
        ~rows.c.on_list_before,
        literal("added", String),
        literal(run_id, Integer),
    ).where(true())  # SQLite reads "... FROM x ON CONFLICT" as a join unless the SELECT has a WHERE
    statement = insert(sync_state).from_select(
        [
            "export_id",
            "profile_key",
            "email",
            "raw_email",
            "raw_first_name",
            "raw_last_name",
            "raw_extra",
            "added_by_export",
            "outcome",
            "last_run_id",
        ],
        source,
    )
    if plain:
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
                "raw_extra": excluded.raw_extra,
                "outcome": excluded.outcome,
                "last_run_id": excluded.last_run_id,
            },
        )
    )


def mark_outcome(db: Connection, export_id: int, run_id: int, emails: Iterable[str], outcome: str) -> None:
    """Members Constant Contact did not put on the list (unsubscribed, refused): not sent again until they change."""
    pending = list(emails)
    for start in range(0, len(pending), CHUNK):
        db.execute(
            update(sync_state)
            .where(
                sync_state.c.export_id == export_id,
                sync_state.c.last_run_id == run_id,
                sync_state.c.email.in_(pending[start : start + CHUNK]),
            )
            .values(outcome=outcome)
        )


def added_among(db: Connection, export_id: int, emails: Sequence[str]) -> list[tuple[str, str]]:
    """(key, email) of the profiles this export put on the list whose address is one of `emails`."""
    found: list[tuple[str, str]] = []
    for start in range(0, len(emails), CHUNK):
        hits = db.execute(
            select(sync_state.c.profile_key, sync_state.c.email).where(
                sync_state.c.export_id == export_id,
                sync_state.c.outcome == "added",
                sync_state.c.email.in_(list(emails[start : start + CHUNK])),
            )
        ).all()
        found.extend((str(key), str(email)) for key, email in hits)
    return found


def mark_unsubscribed(db: Connection, export_id: int, keys: Sequence[str]) -> None:
    """Profiles whose contact unsubscribed since the export put it on the list: not sent again until they
    change (in the caller's transaction, the one that names them in the run's rows)."""
    for start in range(0, len(keys), CHUNK):
        db.execute(
            update(sync_state)
            .where(
                sync_state.c.export_id == export_id,
                sync_state.c.outcome == "added",
                sync_state.c.profile_key.in_(list(keys[start : start + CHUNK])),
            )
            .values(outcome="unsubscribed")
        )


def forget(db: Connection, export_id: int, keys: Iterable[str]) -> None:
    """Members removed from the list: the export no longer has them there (in the caller's transaction)."""
    pending = list(keys)
    for start in range(0, len(pending), CHUNK):
        db.execute(
            delete(sync_state).where(
                and_(
                    sync_state.c.export_id == export_id,
                    sync_state.c.profile_key.in_(pending[start : start + CHUNK]),
                )
            )
        )
