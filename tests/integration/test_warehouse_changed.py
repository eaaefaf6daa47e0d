"""A warehouse table that changed under segport after `profiles connect`: a column dropped or renamed there, or
the table gone. Before, every run of an export over it raised the database's own error, was let go and claimed
again for ever, Processing with nothing said; now the run ends Failure naming the columns and the fix."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from segport.errors import InvalidInput
from segport.exports import launch
from segport.exports import service as exports
from segport.profiles.service import connect_external
from segport.runs.history import show_run
from segport.scheduling.refreshes import list_refreshes, refresh_now
from segport.scheduling.worker import run_refresh
from segport.segments.membership import count_segment, preview_segment
from segport.segments.service import create_segment
from tests.support.app import App, postgresql_warehouse


def change(url: str, statement: str) -> None:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


@pytest.fixture
def exported(app: App) -> tuple[App, str, str]:
    url = postgresql_warehouse(
        "moved",
        "CREATE TABLE moved.customers (id text, email text, first text, spend int)",
        "INSERT INTO moved.customers VALUES ('1', 'a@example.com', 'Ann', 10), ('2', 'b@example.com', 'Bob', 20)",
    )
    connect_external(app.store, url=url, table="moved.customers", key="id", actor="t")
    create_segment(app.store, name="Big", rule_text="spend > 5", actor="t")
    app.connect("CC")
    list_id = app.emulator.create_list("Moved")
    exports.add_export(
        app.store,
        app.settings,
        name="E",
        connection="CC",
        list_id=list_id,
        email_field="email",
        first_name_field="first",
        segment_names=["Big"],
        actor="t",
        http=app.http,
    )
    return app, url, list_id


def run(app: App) -> tuple[str, str]:
    view = show_run(app.store, run_id=launch.run_export(app.store, app.settings, name="E", actor="t", http=app.http))
    return view.status, view.message or ""


def test_a_run_over_it_works_before_the_change(exported: tuple[App, str, str]) -> None:
    app, _, list_id = exported
    status, message = run(app)
    assert status == "Successful", message
    assert sorted(app.emulator.members(list_id)) == ["a@example.com", "b@example.com"]


@pytest.mark.parametrize(
    ("statement", "named"),
    [
        ("ALTER TABLE moved.customers DROP COLUMN first", "no longer has the column first (dropped or renamed"),
        ("ALTER TABLE moved.customers RENAME COLUMN spend TO total", "no longer has the column spend"),
        ("ALTER TABLE moved.customers DROP COLUMN first, DROP COLUMN spend", "the columns first, spend"),
        ("DROP TABLE moved.customers", "The profiles' table moved.customers is gone from the warehouse"),
    ],
)
def test_a_run_after_the_change_fails_at_once_naming_what_is_gone(
    exported: tuple[App, str, str], statement: str, named: str
) -> None:
    app, url, list_id = exported
    change(url, statement)
    status, message = run(app)
    assert status == "Failure" and named in message, message
    assert show_run(app.store, run_id=1).events[-1]["level"] == "error"
    assert app.emulator.members(list_id) == []  # nothing half sent


def test_counting_the_segment_and_a_refresh_say_it_too(exported: tuple[App, str, str]) -> None:
    app, url, _ = exported
    change(url, "ALTER TABLE moved.customers DROP COLUMN spend")
    with pytest.raises(InvalidInput) as refused:
        count_segment(app.store, name="Big")
    assert "no longer has the column spend" in str(refused.value) and refused.value.field == "profiles"
    with pytest.raises(InvalidInput, match="no longer has the column spend"):
        preview_segment(app.store, name="Big")
    refresh_id, _ = refresh_now(app.store, actor="t")
    run_refresh(app.store, refresh_id)
    [refresh] = [item for item in list_refreshes(app.store, limit=1) if item.id == refresh_id]
    assert refresh.status == "Failure" and "no longer has the column spend" in (refresh.message or "")
