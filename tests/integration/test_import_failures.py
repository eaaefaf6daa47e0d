"""A profile import killed part-way, and two imports at once, on SQLite and PostgreSQL: the profiles are always
one whole file's, never a mix or none, and the next import goes through."""

from __future__ import annotations

import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, inspect, select

from segport.profiles import changes, importer
from segport.profiles.importer import import_profiles
from segport.profiles.service import describe
from segport.store import open_store
from segport.store.tables import audit
from tests.integration.test_profiles_import import rows
from tests.support.app import App


def profiles_file(path: Path, count: int, domain: str) -> Path:
    lines = ["id,email", *(f"{number},p{number}@{domain}" for number in range(1, count + 1))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def expected(count: int, domain: str) -> list[tuple[object, ...]]:
    return sorted((str(number), f"p{number}@{domain}") for number in range(1, count + 1))


def _kill_self(*_args: Any) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _after(function: Callable[..., Any]) -> Callable[..., Any]:
    """`function`, then death before the import's transaction commits."""

    def run_then_die(*args: Any, **kwargs: Any) -> Any:
        function(*args, **kwargs)
        _kill_self()

    return run_then_die


def _progress_dying_at_the_second_chunk() -> Callable[[str, int, int], None]:
    chunks = 0

    def report(phase: str, _done: int, _total: int) -> None:
        nonlocal chunks
        if phase == "loading rows":
            chunks += 1
            if chunks == 2:
                _kill_self()

    return report


@pytest.mark.parametrize("point", ["while loading rows", "after the unique index", "after the swap, before commit"])
def test_an_import_killed_part_way_leaves_the_previous_profiles_and_the_next_import_loads(
    app: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    monkeypatch.setattr(importer, "INSERT_CHUNK", 4)  # 30 rows: 8 chunks, so "while loading" is mid-file
    import_profiles(app.store, profiles_file(tmp_path / "old.csv", 30, "old.io"), key="id", actor="t")
    new = profiles_file(tmp_path / "new.csv", 30, "new.io")
    pid = os.fork()
    if pid == 0:  # the importing process: its own connections, killed at `point`
        code = 3  # the import ended without being killed: the test must fail
        try:
            app.store.engine.dispose(close=False)
            own = open_store(app.settings, migrate=False)
            progress = None
            if point == "while loading rows":
                progress = _progress_dying_at_the_second_chunk()
            elif point == "after the unique index":
                importer._index_keys = _after(importer._index_keys)
            else:
                importer._swap = _after(importer._swap)
            import_profiles(own, new, key="id", actor="killed", progress=progress)
        except BaseException:
            traceback.print_exc()
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, f"the import was not killed: {status}"

    assert rows(app) == expected(30, "old.io")
    assert describe(app.store).description.endswith("old.csv")
    tables = set(inspect(app.store.engine).get_table_names())
    assert importer.LOADING_TABLE not in tables
    with app.store.read() as db:
        assert changes.current_version(db) == 1
        assert db.execute(select(func.count()).select_from(audit).where(audit.c.actor == "killed")).scalar() == 0

    loaded = import_profiles(app.store, new, key="id", actor="t")
    assert loaded.rows == 30 and rows(app) == expected(30, "new.io")
    indexes = inspect(app.store.engine).get_indexes("profiles")
    assert [(index["column_names"], bool(index["unique"])) for index in indexes] == [(["id"], True)]


def test_two_imports_at_once_end_as_the_later_file_whole_each_recorded_once(
    app: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second waits for the first (SQLite's write lock; PostgreSQL's catalog row of the loading table),
    then replaces its profiles: never a mix of the two, never a failure for having met the other."""
    monkeypatch.setattr(importer, "INSERT_CHUNK", 4)
    import_profiles(app.store, profiles_file(tmp_path / "old.csv", 30, "old.io"), key="id", actor="t")
    first = profiles_file(tmp_path / "first.csv", 30, "first.io")
    second = profiles_file(tmp_path / "second.csv", 30, "second.io")
    first_loading = threading.Event()
    outcomes: dict[str, object] = {}

    def report(phase: str, _done: int, _total: int) -> None:
        if phase == "loading rows" and not first_loading.is_set():
            first_loading.set()
            time.sleep(0.6)  # the second import starts while this one holds its transaction open

    def run(name: str, path: Path, progress: Callable[[str, int, int], None] | None) -> None:
        try:
            outcomes[name] = import_profiles(app.store, path, key="id", actor=name, progress=progress).rows
        except Exception as exc:  # reported by the assertion below
            outcomes[name] = exc

    earlier = threading.Thread(target=run, args=("first", first, report))
    earlier.start()
    assert first_loading.wait(30)
    later = threading.Thread(target=run, args=("second", second, None))
    later.start()
    earlier.join(60)
    later.join(60)
    assert outcomes == {"first": 30, "second": 30}

    assert rows(app) == expected(30, "second.io")
    assert describe(app.store).description.endswith("second.csv")
    with app.store.read() as db:
        assert changes.current_version(db) == 3
        imported = db.execute(select(audit.c.actor).where(audit.c.action == "profiles.imported")).scalars().all()
    assert sorted(imported) == ["first", "second", "t"]
    indexes = inspect(app.store.engine).get_indexes("profiles")
    assert [(index["column_names"], bool(index["unique"])) for index in indexes] == [(["id"], True)]
    assert importer.LOADING_TABLE not in set(inspect(app.store.engine).get_table_names())
