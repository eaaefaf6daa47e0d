"""Moving an acknowledged batch into the sync state with a plain INSERT when the export had no sync state, and
falling back to the upsert when a member is there after all (SQLite, PostgreSQL).

The fallback must keep the rest of the transaction: on PostgreSQL a failed statement refuses every later one
of its transaction unless it ran inside a savepoint.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import insert, select

from segport.exports import sync
from segport.store.tables import run_sent, sync_state
from tests.support.app import App

EXPORT = 901  # neither table has a foreign key on these: no export or run needs to exist
RUN = 902
OTHER_EXPORT = 903


def _staged(key: str, email: str, batch: int = 1) -> tuple[Any, ...]:
    values = {
        "run_id": RUN,
        "batch_number": batch,
        "profile_key": key,
        "email": email,
        "raw_email": email.upper(),
        "raw_first_name": f"First {key}",
        "raw_last_name": None,
        "raw_extra": None,
        "on_list_before": False,
        "replaced_email": None,
    }
    return tuple(values[name] for name in sync.SENT_COLUMNS)


def _other(key: str) -> dict[str, Any]:
    return {
        "export_id": OTHER_EXPORT,
        "profile_key": key,
        "email": f"{key}@example.com",
        "added_by_export": True,
        "outcome": "added",
        "last_run_id": 1,
    }


def _state(app: App, export_id: int = EXPORT) -> dict[str, tuple[str, str | None, int, bool]]:
    with app.store.read() as db:
        found = db.execute(
            select(
                sync_state.c.profile_key,
                sync_state.c.email,
                sync_state.c.raw_first_name,
                sync_state.c.last_run_id,
                sync_state.c.added_by_export,
            ).where(sync_state.c.export_id == export_id)
        ).all()
    return {row[0]: (row[1], row[2], row[3], row[4]) for row in found}


def _stage(app: App, rows: list[tuple[Any, ...]]) -> None:
    with app.store.begin() as db:
        sync.record_sent(db, rows)


def _staging_left(app: App) -> int:
    with app.store.read() as db:
        return len(db.execute(select(run_sent.c.profile_key).where(run_sent.c.run_id == RUN)).all())


def test_a_fresh_batch_is_inserted_whole(app: App) -> None:
    _stage(app, [_staged(f"K{number}", f"k{number}@example.com") for number in range(5)])
    with app.store.begin() as db:
        sync.acknowledge_batch(db, EXPORT, RUN, 1, held={}, fresh=True)
    state = _state(app)
    assert sorted(state) == [f"K{number}" for number in range(5)]
    assert state["K3"] == ("k3@example.com", "First K3", RUN, True)
    assert _staging_left(app) == 0


@pytest.mark.parametrize("fresh", [True, False])
def test_a_member_already_in_the_sync_state_is_updated_and_the_transaction_goes_on(app: App, fresh: bool) -> None:
    with app.store.begin() as db:
        db.execute(
            insert(sync_state).values(
                export_id=EXPORT,
                profile_key="K1",
                email="old@example.com",
                raw_first_name="Old",
                added_by_export=False,
                outcome="added",
                last_run_id=1,
            )
        )
    _stage(app, [_staged("K0", "k0@example.com"), _staged("K1", "k1@example.com"), _staged("K2", "k2@example.com")])
    with app.store.begin() as db:
        # Written before, in the same transaction: the refused INSERT must not take it away.
        db.execute(insert(sync_state).values(_other("before")))
        sync.acknowledge_batch(db, EXPORT, RUN, 1, held={"k2@example.com": "refused"}, fresh=fresh)
        # And the transaction still takes statements after it.
        db.execute(insert(sync_state).values(_other("after")))
    state = _state(app)
    assert sorted(state) == ["K0", "K1", "K2"]
    # Updated in place; who first put it on the list does not change.
    assert state["K1"] == ("k1@example.com", "First K1", RUN, False)
    assert state["K0"] == ("k0@example.com", "First K0", RUN, True)
    with app.store.read() as db:
        outcome = db.execute(
            select(sync_state.c.outcome).where(sync_state.c.export_id == EXPORT, sync_state.c.profile_key == "K2")
        ).scalar_one()
    assert outcome == "refused"
    assert sorted(_state(app, OTHER_EXPORT)) == ["after", "before"]
    assert _staging_left(app) == 0


def test_only_the_acknowledged_batch_moves(app: App) -> None:
    _stage(app, [_staged("K0", "k0@example.com", batch=1), _staged("K1", "k1@example.com", batch=2)])
    with app.store.begin() as db:
        sync.acknowledge_batch(db, EXPORT, RUN, 2, held={}, fresh=True)
    assert sorted(_state(app)) == ["K1"]
    assert _staging_left(app) == 1
