"""One API key's budget shared through the database: concurrent users never exceed the rate together; on
SQLite, a damaged budgets file is kept aside and made anew."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from segport.connections.budget import RETAKES, SharedBudget
from segport.errors import QuotaExceeded
from segport.exports import launch
from segport.runs.history import show_run
from segport.segments.service import create_segment
from segport.store import Store
from segport.store.budgets_file import _move_aside, budgets_file_of
from segport.store.tables import api_budgets
from tests.support.app import App
from tests.support.locking import answered_while_held


def test_two_users_of_one_key_stay_inside_the_rate_together(app: App) -> None:
    per_second = 20.0  # fast, so the test is short; the arithmetic is the same at 4/s
    started: list[float] = []
    lock = threading.Lock()

    def draw(count: int) -> None:
        # A small margin: a request leaving more than that after its slot takes a new one, so with none at all
        # every request would take several.
        budget = SharedBudget(app.store, "key", per_second=per_second, per_day=1_000, margin=0.05)
        for _ in range(count):
            budget.acquire("op")
            with lock:
                started.append(time.time())

    users = [threading.Thread(target=draw, args=(15,)) for _ in range(2)]
    for user in users:
        user.start()
    for user in users:
        user.join()
    started.sort()
    slots = int(per_second)
    # No window of one second (less a little for the thread's own scheduling) holds more than `slots` starts:
    # slots are 1.05 s apart and a request leaves within 0.05 s of its own.
    for index in range(len(started) - slots):
        assert started[index + slots] - started[index] >= 1.0 - 0.02
    assert SharedBudget(app.store, "key", per_second=per_second, per_day=1_000).used_today() == 30


def test_the_days_quota_is_shared_and_resets_with_the_day(app: App) -> None:
    one = SharedBudget(app.store, "key", per_second=4, per_day=3)
    two = SharedBudget(app.store, "key", per_second=4, per_day=3)
    one.acquire()
    two.acquire()
    one.acquire()
    with pytest.raises(QuotaExceeded) as refused:
        two.acquire("getList")
    assert refused.value.resets_at is not None and refused.value.resets_at > datetime.now(UTC)
    with app.store.budgets() as db:  # yesterday's count does not hold today
        db.execute(update(api_budgets).where(api_budgets.c.key == "key").values(day="2000-01-01"))
    two.acquire()
    assert one.used_today() == 1


class _PausedClock:
    """time.time/time.sleep for the budget module: the first sleep lasts `pause` seconds longer (SIGSTOP)."""

    def __init__(self, pause: float) -> None:
        self.now = time.time()
        self.pause = pause
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds + self.pause
        self.pause = 0.0


def test_a_process_that_wakes_long_after_its_slot_takes_a_new_one(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = _PausedClock(pause=5.0)
    monkeypatch.setattr("segport.connections.budget.time", clock)
    budget = SharedBudget(app.store, "key", per_second=4, per_day=100)
    for _ in range(4):  # the window is full: the next request must wait for a slot
        budget.acquire()
    budget.acquire()  # it waits, but wakes 5 s late: its old slot says nothing about the second it sends in
    assert len(clock.sleeps) == 1  # waited once; the new slot was free at once
    with app.store.budgets() as db:
        recent = db.execute(select(api_budgets.c.recent).where(api_budgets.c.key == "key")).scalar_one()
    assert max(orjson.loads(recent)) == pytest.approx(clock.now, abs=0.01)  # it reserved the moment it sends
    assert budget.used_today() == 5  # and counted once


def test_a_process_that_wakes_past_the_margin_takes_a_new_slot(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """Half a second late (more than the 100 ms margin, less than a window): the slots reserved after its old one
    were spaced from a moment it did not send at, so it reserves the moment it does send."""
    clock = _PausedClock(pause=0.5)
    monkeypatch.setattr("segport.connections.budget.time", clock)
    budget = SharedBudget(app.store, "key", per_second=4, per_day=100)
    for _ in range(5):
        budget.acquire()
    assert len(clock.sleeps) == 1
    with app.store.budgets() as db:
        recent = db.execute(select(api_budgets.c.recent).where(api_budgets.c.key == "key")).scalar_one()
    assert max(orjson.loads(recent)) == pytest.approx(clock.now, abs=0.01)
    assert budget.used_today() == 5


class _SlowClock:
    """Every reading of the clock is 200 ms after the last: each request leaves past the margin."""

    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        self.now += 0.2
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_slots_are_taken_again_a_few_times_at_most(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("segport.connections.budget.time", _SlowClock())
    budget = SharedBudget(app.store, "key", per_second=4, per_day=100)
    reservations = []
    reserve = budget._reserve

    def counted(operation: str, *, count: bool) -> float:
        reservations.append(count)
        return reserve(operation, count=count)

    monkeypatch.setattr(budget, "_reserve", counted)
    budget.acquire()
    assert reservations == [True] + [False] * RETAKES  # the first counts against the day, the others do not
    assert budget.used_today() == 1


def test_a_reservation_does_not_wait_for_a_run_writing_a_batch(app: App) -> None:
    """On SQLite the budgets have a file (and a write lock) of their own: a request's slot is reserved while
    a run holds the store's write lock to record a batch of members."""
    if app.store.dialect != "sqlite":
        pytest.skip("PostgreSQL locks the key's row only; the store's writes never held reservations up there")
    release, taken = threading.Event(), threading.Event()

    def write_a_batch() -> None:
        with app.store.begin() as db:  # the store's write lock, as a run's preparing stage takes it
            db.execute(select(1))
            taken.set()
            release.wait(30)

    writer = threading.Thread(target=write_a_batch, daemon=True)
    writer.start()
    assert taken.wait(10)
    budget = SharedBudget(app.store, "key", per_second=4, per_day=100)
    drawing = threading.Thread(target=lambda: [budget.acquire("op") for _ in range(3)], daemon=True)
    drawing.start()
    drawing.join(10)
    done_meanwhile = not drawing.is_alive()
    release.set()
    writer.join(10)
    assert done_meanwhile
    assert budget.used_today() == 3
    budgets_file = Path(str(app.store.engine.url.database)).with_name("segport-budgets.db")
    assert budgets_file.exists() and budgets_file.stat().st_mode & 0o077 == 0  # beside the store, owner-only


def test_reading_the_day_s_count_does_not_wait_for_a_reservation(app: App) -> None:
    """A metrics scrape or a page showing the count only reads: it must not queue for the budgets' write lock
    (nor hold it up), which every request's reservation takes."""
    budget = SharedBudget(app.store, "key", per_second=4, per_day=100)
    budget.acquire("op")

    @contextmanager
    def reservation() -> Iterator[None]:
        with app.store.budgets() as db:  # a reservation's write transaction, held
            db.execute(update(api_budgets).where(api_budgets.c.key == "key").values(key="key"))
            yield

    done_meanwhile, counted = answered_while_held(reservation, budget.used_today)
    assert done_meanwhile and counted == [1]


def _budgets_file(app: App) -> Path:
    return budgets_file_of(Path(str(app.store.engine.url.database)))


def _kept_aside(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.damaged-*"))


@pytest.mark.parametrize("database_url", [None])  # a file of SQLite's: PostgreSQL keeps the budgets in the store
def test_a_damaged_budgets_file_is_kept_aside_and_made_anew_so_runs_go_on(
    app: App, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app.load_profiles(tmp_path, 30)
    create_segment(app.store, name="All", rule_text="customer_id is not empty", actor="t")
    app.connect("CC")
    app.add_export("E", "CC", ["All"])
    path = _budgets_file(app)
    app.store.close()
    damaged = b"not a database: a file copied over it " * 100
    path.write_bytes(damaged)
    reopened = app.reopen()
    caplog.set_level(logging.WARNING, logger="segport.store.budgets_file")
    run_id = launch.run_export(reopened.store, reopened.settings, name="E", actor="t", http=reopened.http)
    assert run_id and show_run(reopened.store, run_id=run_id).status == "Successful"
    [kept] = _kept_aside(path)
    assert kept.read_bytes() == damaged
    assert "was not a usable SQLite database" in caplog.text and kept.name in caplog.text
    assert SharedBudget(reopened.store, "other", per_second=4, per_day=10).used_today() == 0
    with reopened.store.budgets(write=False) as db:
        assert sum(db.execute(select(api_budgets.c.used)).scalars()) > 0  # the run's requests, counted anew


@pytest.mark.parametrize("database_url", [None])
def test_a_budgets_file_that_cannot_be_opened_for_another_reason_is_reported_and_left_as_it_is(app: App) -> None:
    path = _budgets_file(app)
    app.store.close()
    path.unlink(missing_ok=True)
    path.mkdir()  # not damaged: a folder in its place, which a new file cannot replace either
    reopened = app.reopen()
    with pytest.raises(OperationalError, match="unable to open database file"):
        SharedBudget(reopened.store, "key", per_second=4, per_day=10).acquire()
    assert path.is_dir() and not _kept_aside(path)


@pytest.mark.parametrize("database_url", [None])
def test_stores_finding_the_damaged_file_at_once_keep_one_copy_and_share_the_new_file(app: App) -> None:
    # Each store opens its own files and takes its own lock on the folder, as a process of its own would.
    path = _budgets_file(app)
    app.store.close()
    path.write_bytes(b"x" * 4096)
    stores = [app.reopen().store for _ in range(4)]
    start = threading.Barrier(len(stores))
    failures: list[BaseException] = []

    def reserve(store: Store) -> None:
        try:
            start.wait()
            SharedBudget(store, "key", per_second=50, per_day=100).acquire()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=reserve, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(_kept_aside(path)) == 1
    assert SharedBudget(stores[0], "key", per_second=50, per_day=100).used_today() == len(stores)


def test_the_journal_files_of_a_damaged_budgets_file_go_with_it_and_a_file_made_anew_meanwhile_stays(
    tmp_path: Path,
) -> None:
    """SQLite deletes a damaged file's write-ahead log itself when it can; one left behind must not be replayed
    into the new file, so it moves with the file."""
    path = tmp_path / "segport-budgets.db"
    files = {suffix: path.with_name(path.name + suffix) for suffix in ("", "-wal", "-shm")}
    for suffix, file in files.items():
        file.write_bytes(f"damaged{suffix}".encode())
    seen = path.stat().st_ino
    _move_aside(path, seen)
    [kept] = [file for file in _kept_aside(path) if not file.name.endswith(("-wal", "-shm"))]
    assert not any(file.exists() for file in files.values())
    assert [kept.with_name(kept.name + suffix).read_bytes() for suffix in files] == [
        b"damaged",
        b"damaged-wal",
        b"damaged-shm",
    ]
    path.write_bytes(b"made anew by another process")
    _move_aside(path, seen)  # the file seen damaged is gone: the new one stays
    assert path.read_bytes() == b"made anew by another process" and len(_kept_aside(path)) == 3
