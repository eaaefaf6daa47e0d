"""A warehouse table that changed under segport after `profiles connect`: a column dropped or renamed there, or
the table gone. Before, every run of an export over it raised the database's own error, was let go and claimed
again for ever, Processing with nothing said; now the run ends Failure naming the columns and the fix.

And a warehouse that does not answer at all (down, moved, its password changed): said as such everywhere, not as
segport's own database in trouble nor as an error segport did not expect."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import create_engine, text, update
from sqlalchemy.exc import ProgrammingError

from segport import failpoints
from segport.errors import InvalidInput, WarehouseUnavailable
from segport.exports import launch
from segport.exports import service as exports
from segport.profiles.service import connect_external, describe
from segport.runs.history import show_run
from segport.scheduling.refreshes import list_refreshes, refresh_now
from segport.scheduling.worker import run_refresh
from segport.segments.membership import count_segment, member_rows, preview_segment
from segport.segments.service import create_segment
from segport.server.app import create_app
from segport.store.tables import profile_source
from segport.users import service as users
from tests.support.app import App, postgresql_warehouse
from tests.support.exporting import QUICK
from tests.support.server import serving_app
from tests.support.web import PASSWORD, signed_in


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
    return app, url, export_over(app, url, first_name_field="first")


def export_over(app: App, url: str, **fields: str) -> str:
    """The export E of the segment Big (spend > 5) over the warehouse's moved.customers; its new list's id."""
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
        segment_names=["Big"],
        actor="t",
        http=app.http,
        **fields,  # type: ignore[arg-type]
    )
    return list_id


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


# Nothing listens on port 1; the password must never be shown.
DOWN = "postgresql://postgres:not-to-be-shown@127.0.0.1:1/test"


def point_at(app: App, url: str) -> None:
    """The connected source's address changed under segport, as when the warehouse moved or went down."""
    with app.store.begin() as db:
        db.execute(update(profile_source).values(url_sealed=app.store.secrets.seal(url)))


def test_a_run_over_a_warehouse_that_does_not_answer_ends_failure_saying_so(exported: tuple[App, str, str]) -> None:
    # Its waiting budget spent at once (test_warehouse_waits.py walks the waits themselves).
    app, url, list_id = exported
    app = app.reopen(**QUICK, run_wait_seconds=0.001)
    point_at(app, DOWN)
    status, message = run(app)
    assert status == "Failure", message
    assert "The profiles' warehouse at postgresql+psycopg://postgres:***@127.0.0.1:1/test does not answer" in message
    assert "Connection refused" in message and "connect the profiles to it again" in message
    assert "not-to-be-shown" not in message and "did not expect" not in message
    assert app.emulator.members(list_id) == []
    point_at(app, url)  # it answers again: the next run sends everyone
    status, message = run(app)
    assert status == "Successful", message
    assert sorted(app.emulator.members(list_id)) == ["a@example.com", "b@example.com"]


def test_a_count_and_a_refresh_say_the_warehouse_does_not_answer(exported: tuple[App, str, str]) -> None:
    app, _, _ = exported
    point_at(app, DOWN)
    with pytest.raises(WarehouseUnavailable, match="does not answer"):
        count_segment(app.store, name="Big")
    with pytest.raises(WarehouseUnavailable, match="does not answer"):
        preview_segment(app.store, name="Big")
    refresh_id, _ = refresh_now(app.store, actor="t")
    run_refresh(app.store, refresh_id)
    [refresh] = [item for item in list_refreshes(app.store, limit=1) if item.id == refresh_id]
    assert refresh.status == "Failure" and "does not answer" in (refresh.message or ""), refresh.message


@pytest.fixture
def served(exported: tuple[App, str, str]) -> Iterator[tuple[App, str, str]]:
    app = exported[0]
    users.add_user(app.store, name="admin", role="admin", actor="t", password=PASSWORD)
    token = users.issue_token(app.store, name="admin", label="counts", actor="t")[1]
    with serving_app(create_app(app.settings, app.store, app.http)) as base:
        yield app, base, token


def test_api_and_pages_answer_503_naming_the_warehouse_and_the_segment_still_shows(
    served: tuple[App, str, str],
) -> None:
    app, base, token = served
    point_at(app, DOWN)
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as api:
        answer = api.get("/api/segments/Big/count")
    body = answer.json()
    assert answer.status_code == 503 and body["title"] == "The profiles' warehouse is not answering", body
    assert "does not answer" in body["detail"] and "connect the profiles to it again" in body["hint"]
    assert "not-to-be-shown" not in answer.text
    with signed_in(base, "admin") as pages:
        download = pages.get("/segments/Big/members.csv")
        page = pages.get("/segments/Big")  # the segment itself still shows, and can be edited
    assert download.status_code == 503 and "does not answer" in download.text, download.text[:500]
    assert page.status_code == 200 and "The members cannot be previewed: The profiles&#39; warehouse at" in page.text


def test_a_dropped_connection_is_the_warehouse_not_answering_and_a_statement_error_stays_its_own(
    exported: tuple[App, str, str],
) -> None:
    app, url, _ = exported
    engine = app.store.external_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as connection:
        backend = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        change(url, f"SELECT pg_terminate_backend({backend})")
        with pytest.raises(WarehouseUnavailable, match="terminating connection"):
            connection.execute(text("SELECT 1"))
    # The pool's pre-ping replaces the connection the warehouse closed; a statement's own error stays its own.
    with engine.connect() as connection, pytest.raises(ProgrammingError):
        connection.execute(text("SELECT no_such_column FROM moved.customers"))
    with engine.connect() as connection:
        backend = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
    change(url, f"SELECT pg_terminate_backend({backend})")  # closed while idle in the pool
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM moved.customers")).scalar_one() == 2


# Beyond one fetch of the member stream (members.STREAM_CHUNK), so the read goes on after a batch; the warehouse
# below generates as many.
MANY = 25_000


def many_customers() -> str:
    """A warehouse of MANY customers, all in the segment Big; its URL."""
    return postgresql_warehouse(
        "moved",
        "CREATE TABLE moved.customers (id text, email text, spend int)",
        "INSERT INTO moved.customers SELECT i::text, 'p' || i || '@example.com', 10 FROM generate_series(1, 25000) i",
    )


def run_dropped_mid_read(app: App, url: str, then: Callable[[str], None] | None = None) -> tuple[str, str]:
    """Run the export, the warehouse dropping the stream's connection once the first batch is prepared (`then`:
    called at every failpoint after that)."""
    dropped = threading.Event()

    def drop_the_warehouse_connection(point: str) -> None:
        if then is not None and dropped.is_set():
            then(point)
        # The first batch prepared: the stream has read at most a few batches of its first fetch, so the next
        # fetch meets the dropped connection (after a batch was sent, a slow machine had read past the last fetch).
        if point == "prepared" and not dropped.is_set():
            dropped.set()  # the warehouse restarts: its server-side cursor, mid-read, is gone
            change(
                url,
                # The stream's connection: its last statement a FETCH from the cursor over the warehouse's table.
                # Of this test's database only: other tests' streams run on the same server meanwhile.
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND "
                "datname = current_database() AND (query ILIKE 'FETCH%' OR query ILIKE '%moved.customers%')",
            )

    failpoints.set_action(drop_the_warehouse_connection)
    try:
        outcome = run(app)
    finally:
        failpoints.set_action(None)
    assert dropped.is_set()
    return outcome


# psycopg warns when it collects a server-side cursor it could not close: this one's connection was terminated
# under it (at times the close meets the dead connection first). Nothing of segport's is left open.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_connection_the_warehouse_drops_mid_read_ends_the_run_and_the_next_sends_the_rest(app: App) -> None:
    url = many_customers()
    # It does not wait for the warehouse here (test_warehouse_waits.py has the run that does).
    quick = app.reopen(batch_max_contacts=2_000, **QUICK, run_wait_seconds=0.001)
    list_id = export_over(quick, url)
    status, message = run_dropped_mid_read(quick, url)
    assert status == "Failure", message
    # The driver's words depend on where the read was when the connection went (terminated, or closed under it).
    assert "The profiles' warehouse at postgresql+psycopg://" in message and " does not answer (" in message
    sent = len(quick.emulator.members(list_id))
    assert sent < MANY  # what went is recorded
    status, message = run(quick)
    assert status == "Successful", message
    assert len(quick.emulator.members(list_id)) == MANY
    view = show_run(quick.store, run_id=2)
    assert view.counts["sent"] <= MANY - sent + 2_000, view.counts  # the rest, at most one batch again


def test_the_profiles_are_described_all_the_same_saying_why_they_cannot_be_counted(
    served: tuple[App, str, str],
) -> None:
    app, base, token = served
    assert describe(app.store).row_count == 2 and describe(app.store).problem is None
    point_at(app, DOWN)
    described = describe(app.store)
    assert [field.name for field in described.fields] == ["id", "email", "first", "spend"]
    assert described.row_count is None and "does not answer" in (described.problem or "")
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as api:
        body = api.get("/api/profiles").json()
    assert body["rows"] is None and "does not answer" in body["problem"] and len(body["fields"]) == 4
    with signed_in(base, "admin") as pages:
        # The page that uploads other profiles opens, and the forms that need only the fields too.
        for path in ("/profiles", "/exports/new", "/segments/new"):
            page = pages.get(path)
            assert page.status_code == 200, (path, page.text[:300])
        assert "does not answer" in pages.get("/profiles").text


def test_a_table_changed_under_it_is_described_with_what_changed(exported: tuple[App, str, str]) -> None:
    app, url, _ = exported
    change(url, "ALTER TABLE moved.customers DROP COLUMN spend")
    described = describe(app.store)
    assert described.row_count is None and "no longer has the column spend" in (described.problem or "")
    # A download is refused before its first byte (a page had sent its headers, then cut the file short).
    with pytest.raises(InvalidInput, match="no longer has the column spend"):
        member_rows(app.store, name="Big")


def test_a_query_held_up_by_a_lock_in_the_warehouse_gives_up_and_says_so(exported: tuple[App, str, str]) -> None:
    app, url, list_id = exported
    patient = app.reopen(warehouse_query_timeout_seconds=1, **QUICK, run_wait_seconds=0.001)  # a run does not wait
    holder = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with holder.connect() as locking:
            locking.execute(text("BEGIN"))
            locking.execute(text("LOCK TABLE moved.customers IN ACCESS EXCLUSIVE MODE"))  # a schema change there
            started = time.monotonic()
            with pytest.raises(WarehouseUnavailable) as waited:
                count_segment(patient.store, name="Big")
            assert time.monotonic() - started < 30  # not for ever
            assert "did not finish a query in time (canceling statement due to statement timeout)" in str(waited.value)
            assert "SEGPORT_WAREHOUSE_QUERY_TIMEOUT_SECONDS" in waited.value.hint
            status, message = run(patient)
            assert status == "Failure" and "did not finish a query in time" in message, message
            with pytest.raises(InvalidInput, match="Cannot read moved.customers at .*statement timeout"):
                connect_external(patient.store, url=url, table="moved.customers", key="id", actor="t")
            locking.execute(text("ROLLBACK"))
    finally:
        holder.dispose()
    assert count_segment(patient.store, name="Big") == 2  # free again
    status, message = run(patient)
    assert status == "Successful" and sorted(app.emulator.members(list_id)) == ["a@example.com", "b@example.com"]


def _page_routes(routes: list[Any]) -> Iterator[str]:
    """The path of every GET route, of included routers too."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _page_routes(included.routes)
        if isinstance(route, APIRoute) and "GET" in route.methods:
            yield route.path


def test_every_page_and_api_read_opens_or_says_the_warehouse_does_not_answer(
    served: tuple[App, str, str],
) -> None:
    app, base, token = served
    run(app)  # a run to show
    point_at(app, DOWN)
    names = {"name": "Big", "run_id": "1", "id": "1", "export": "E"}
    answered: dict[str, int] = {}
    with signed_in(base, "admin") as pages:
        for template in sorted(set(_page_routes(create_app(app.settings, app.store, app.http).routes))):
            path = template
            for parameter, value in names.items():
                path = path.replace(
                    f"{{{parameter}}}",
                    "E" if template.startswith(("/exports", "/api/exports")) and parameter == "name" else value,
                )
            if "{" in path or path.startswith(("/oauth", "/sign-out", "/api/oauth")):
                continue
            headers = {"Authorization": f"Bearer {token}"} if path.startswith("/api/") else {}
            answer = pages.get(path, headers=headers)
            answered[path] = answer.status_code
            assert answer.status_code < 500 or (answer.status_code == 503 and "does not answer" in answer.text), (
                path,
                answer.status_code,
                answer.text[:300],
            )
    # Only what must read the profiles' rows says it cannot; everything else opens.
    unavailable = sorted(path for path, status in answered.items() if status == 503)
    assert unavailable == [
        "/api/segments/Big/count",
        "/api/segments/Big/members.csv",
        "/api/segments/Big/preview",
        "/segments/Big/members.csv",
    ], unavailable
    assert len(answered) > 50  # every page and API read there is, not a few
    assert answered["/profiles"] == answered["/segments/Big"] == answered["/api/profiles"] == 200


def test_warehouse_connections_carry_the_time_limit_and_keep_the_urls_own_options(
    exported: tuple[App, str, str],
) -> None:
    app, url, _ = exported
    patient = app.reopen(warehouse_query_timeout_seconds=2)
    # A URL's own startup options (a search path here) stay; the limit is set by SQL, which poolers let through.
    engine = patient.store.external_engine(f"{url}?options=-csearch_path%3Dmoved")
    with engine.connect() as connection:
        assert connection.execute(text("SHOW statement_timeout")).scalar_one() == "2s"
        assert connection.execute(text("SELECT count(*) FROM customers")).scalar_one() == 2
        connection.rollback()
        assert connection.execute(text("SHOW statement_timeout")).scalar_one() == "2s"  # not undone by a rollback
