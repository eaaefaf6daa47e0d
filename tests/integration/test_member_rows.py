"""The export's member rows read from SQLite's driver directly are exactly the rows SQLAlchemy gives."""

from __future__ import annotations

from pathlib import Path

from segport.exports import service as exports
from segport.exports.members import _rows, rows_as_the_driver_gives_them
from segport.exports.plan import plan_for
from tests.support.app import App
from tests.support.exporting import ExportWorld


def test_member_rows_from_the_driver_are_the_rows_sqlalchemy_gives(app: App, tmp_path: Path) -> None:
    app.connect("CC")
    world = ExportWorld(app, tmp_path, count=120)
    assert world.run().status == "Successful"  # a sync state: outcomes, who added each contact (booleans)
    world.rename(3, "Zoë")  # a changed member, for the incremental query's extra columns
    export = exports.show_export(app.store, name=world.name)
    for full in (True, False):
        plan = plan_for(app.store, export, full=full)
        assert plan is not None and plan.query.joined
        with app.store.engine.connect() as connection:
            from_driver = rows_as_the_driver_gives_them(connection, plan.query.query)
            expected = [tuple(row) for row in connection.execute(plan.query.query)]
        assert from_driver is (app.store.dialect == "sqlite")  # PostgreSQL keeps SQLAlchemy's server-side cursor
        got = list(_rows(app.store, plan.source, plan.query, export.id))
        assert expected and got == expected  # every row, in order (a 0/1 equals False/True)
        assert any(row[11] is not None for row in got)  # the sync state's columns were read (the booleans)
