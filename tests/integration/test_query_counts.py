"""No page or list answer costs a query per item: the statements one request sends to the store stay the same
whether it lists a few items or many (an N+1 would grow with them)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event, insert, select

from segport.segments.service import create_segment
from segport.server.app import create_app
from segport.store.tables import runs
from segport.users import service as users
from tests.support.app import App
from tests.support.server import serving_app
from tests.support.web import PASSWORD, signed_in


@contextmanager
def counted(app: App) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(app.store.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(app.store.engine, "before_cursor_execute", count)


def add_items(app: App, tmp_path: Path, exports: int, runs_each: int) -> None:
    """Exports (each with its own segment, list and connection) and recorded runs, on top of what is there."""
    start = len(app.emulator.world.lists)
    for number in range(start, start + exports):
        create_segment(app.store, name=f"S{number}", rule_text=f"orders >= {number % 5}", actor="t")
        app.connect(f"C{number}")
        export = app.add_export(f"E{number}", f"C{number}", [f"S{number}"])
        with app.store.begin() as db:
            for step in range(runs_each):
                db.execute(
                    insert(runs).values(
                        export_id=export.id,
                        status="Successful",
                        trigger="schedule",
                        triggered_by="scheduler",
                        created_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=step),
                    )
                )


PATHS_API = ["/api/runs?limit=500", "/api/exports", "/api/segments", "/api/connections", "/api/audit?limit=1000"]
PATHS_PAGES = ["/runs", "/exports", "/segments", "/connections", "/alerts"]


def test_lists_and_pages_cost_the_same_queries_for_few_items_or_many(app: App, tmp_path: Path) -> None:
    app.connect("CC")
    app.load_profiles(tmp_path, 20)
    users.add_user(app.store, name="ada", role="admin", actor="t", password=PASSWORD)
    token = users.issue_token(app.store, name="ada", label="t", actor="t")[1]
    add_items(app, tmp_path, exports=2, runs_each=2)
    with (
        serving_app(create_app(app.settings, app.store, app.http)) as base,
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as api,
        signed_in(base, "ada", PASSWORD) as web,
    ):

        def costs() -> dict[str, int]:
            found = {}
            for client, paths in ((api, PATHS_API), (web, PATHS_PAGES)):
                for path in paths:
                    with counted(app) as statements:
                        answer = client.get(path)
                    assert answer.status_code == 200, (path, answer.text[:300])
                    found[path] = len(statements)
            return found

        few = costs()
        add_items(app, tmp_path, exports=10, runs_each=4)
        with app.store.read() as db:
            assert len(db.execute(select(runs.c.id)).all()) == 2 * 2 + 10 * 4
        many = costs()
    grown = {path: (few[path], many[path]) for path in few if many[path] > few[path]}
    assert grown == {}, f"queries per request grew with the items (few, many): {grown}"
