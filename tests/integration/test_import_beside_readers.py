"""A profile import while the profiles are being read (an export run streaming its members): on PostgreSQL the
import's DROP TABLE waited in line for the reader, and every later reader (a segment's count, a page) waited
behind it: 6 s here for a reader held 6 s, the whole run for a run. SQLite's readers keep their snapshot."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from segport.errors import Refused
from segport.profiles.generator import write_profiles
from segport.profiles.importer import import_profiles
from segport.profiles.service import describe
from segport.segments.membership import count_segment
from segport.segments.service import create_segment
from tests.support.app import App


@contextmanager
def reading_the_profiles(app: App) -> Iterator[Connection]:
    """A transaction that has read some profiles and stays open, as a run's member stream does."""
    with app.store.engine.connect() as reader, reader.begin():
        reader.execute(text("SELECT * FROM profiles")).fetchmany(10)
        yield reader


@pytest.fixture
def loaded(app: App, tmp_path: Path) -> Path:
    if app.store.dialect != "postgresql":
        pytest.skip("SQLite's readers keep their snapshot: an import neither waits for them nor holds them up")
    app.load_profiles(tmp_path, 500)
    create_segment(app.store, name="Everyone", rule_text="customer_id is not empty", actor="t")
    path = tmp_path / "next.csv"
    write_profiles(path, 700, seed=9)
    return path


def in_thread(work: Callable[[], object]) -> tuple[threading.Thread, dict[str, object]]:
    """`work` started in a thread; its result (or error) and when it ended land in the dict. A thread, so that a
    lock waited for in line makes the test fail on a join's timeout instead of hanging it."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["result"] = work()
        except Exception as error:  # reported by the test's assertions
            outcome["error"] = error
        outcome["ended"] = time.monotonic()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_readers_go_on_while_an_import_waits_for_a_run_and_the_import_follows_it(app: App, loaded: Path) -> None:
    with reading_the_profiles(app):
        importing, imported = in_thread(lambda: import_profiles(app.store, loaded, key="Customer ID", actor="t"))
        time.sleep(1.0)  # the import has loaded its rows and asks for the table
        counting, counted = in_thread(lambda: count_segment(app.store, name="Everyone"))
        counting.join(2.0)
        assert counted.get("result") == 500, "the count waited in line behind the import"
        assert "ended" not in imported  # the import waits for the run
        released = time.monotonic()
    importing.join(30)
    assert "error" not in imported and float(imported["ended"]) >= released  # type: ignore[arg-type]
    assert describe(app.store).row_count == 700


def test_an_import_refused_after_waiting_its_time_changes_nothing(app: App, loaded: Path) -> None:
    impatient = app.reopen(database_busy_timeout_seconds=1.0)
    with reading_the_profiles(app):
        importing, imported = in_thread(lambda: import_profiles(impatient.store, loaded, key="Customer ID", actor="t"))
        importing.join(10)
        refused = imported.get("error")
        assert isinstance(refused, Refused), "the import did not give up after its time"
    assert "the profiles were being read" in refused.message and "Nothing was changed" in refused.message
    assert describe(app.store).row_count == 500 and count_segment(app.store, name="Everyone") == 500
    import_profiles(app.store, loaded, key="Customer ID", actor="t")  # nothing left behind in the way
    assert describe(app.store).row_count == 700
