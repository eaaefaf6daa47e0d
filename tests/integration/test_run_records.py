"""What the store enforces on runs, and that the dry run and the run decide alike (one set of decisions)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError

from segport.exports import service as exports
from segport.runs import queue
from segport.store.tables import run_batches, runs
from tests.support.app import App
from tests.support.exporting import QUICK, ExportWorld


def test_the_database_refuses_a_status_phase_or_batch_state_outside_the_enums(app: App, tmp_path: Path) -> None:
    app.connect("CC")
    ExportWorld(app, tmp_path, count=10)
    run_id, _ = queue.enqueue(app.store, exports.show_export(app.store, name="E").id, trigger="manual", actor="t")
    for values in ({"status": "Done"}, {"phase": "finished"}, {"wait_reason": "coffee"}):
        with pytest.raises(IntegrityError), app.store.begin() as db:
            db.execute(update(runs).where(runs.c.id == run_id).values(**values))
    with pytest.raises(IntegrityError), app.store.begin() as db:
        db.execute(
            insert(run_batches).values(
                run_id=run_id,
                number=1,
                contacts=1,
                body_bytes=1,
                stream_end=1,
                state="sent",
                accepted_at=datetime.now(UTC),
            )
        )
    with app.store.begin() as db:  # the values of the enums are accepted
        db.execute(update(runs).where(runs.c.id == run_id).values(status="Canceled", phase="done", wait_reason=None))


@pytest.mark.parametrize("mode", ["add", "mirror"])
def test_a_dry_run_predicts_exactly_what_the_next_run_does(app: App, tmp_path: Path, mode: str) -> None:
    quick = app.reopen(batch_max_contacts=40, **QUICK)
    quick.connect("CC")
    world = ExportWorld(quick, tmp_path, mode=mode)
    quick.emulator.block("p8@example.com")
    for step in range(3):
        if step == 1:
            world.narrow(80)
            world.rename(3, "Changed")
            quick.emulator.unsubscribe("p4@example.com")
        if step == 2:
            world.narrow(85)  # some come back
            world.rename(9, "Changed too")
        plan = world.plan()
        view = world.run()
        assert view.status == "Successful", view.message
        assert (plan.add, plan.update, plan.remove) == (
            view.counts["added"],
            view.counts["updated"],
            view.counts["removed"],
        )
        assert plan.unchanged == view.counts["unchanged"]
        assert (
            sum(plan.skip[reason] for reason in ("invalid_email", "missing_email", "email_too_long"))
            == view.counts["invalid_email"]
        )
        assert plan.skip["duplicate"] == view.counts["duplicate"]
        assert world.listed() == world.expected() or mode == "add"
