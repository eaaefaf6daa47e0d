"""One API key's request budget shared by every process, accounted in the database.

Constant Contact's limits (4 requests/s, 10,000/day) belong to the API key, so every worker that uses the
key must draw on one budget. Each request reserves a start time in one short transaction on the key's row
(locked FOR UPDATE on PostgreSQL; on SQLite the write lock of the budgets' own file serialises it, so a
reservation never waits for a run's writes: Store.budgets): the row keeps the start times of
the latest `per_second` requests and the day's count. The request then waits until its start time, outside
the transaction. Times are the hosts' clocks: workers on several machines need them in sync (NTP). The window
is widened by `margin` (100 ms): a request that leaves up to that much later than its slot (a busy CPU, a slow
commit) must still not make five in one of Constant Contact's seconds; one that leaves later takes a new slot.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import orjson
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from segport.clock import next_utc_midnight
from segport.errors import QuotaExceeded
from segport.store import Store
from segport.store.tables import api_budgets

RETAKES = 3  # new slots a late request may take in turn


class SharedBudget:
    def __init__(self, store: Store, key: str, *, per_second: float, per_day: int, margin: float = 0.1) -> None:
        self._store = store
        self.key = key
        self._slots = max(1, int(per_second))
        self._margin = margin
        self._window = self._slots / per_second + margin
        self._per_day = per_day

    def acquire(self, operation: str = "") -> None:
        start = self._reserve(operation, count=True)
        # The slots reserved after this one assume it leaves within `margin` of its start. One that leaves later
        # (its process was paused or starved of CPU, the commit was slow) could be the fifth in one of Constant
        # Contact's seconds: it takes a new slot (the request counts against the day once). A few times at most:
        # on a machine where every commit is that slow, taking slots without end would not help.
        for _ in range(RETAKES):
            if time.time() - start <= self._margin:
                break
            start = self._reserve(operation, count=False)

    def _reserve(self, operation: str, *, count: bool) -> float:
        """Reserve the next free start time, wait until it, and return it."""
        with self._store.budgets() as db:
            insert_into = postgresql.insert if db.dialect.name == "postgresql" else sqlite.insert
            db.execute(  # the row exists from here on; on SQLite this also takes the write lock
                insert_into(api_budgets)
                .values(key=self.key, day="", used=0, recent="[]")
                .on_conflict_do_nothing(index_elements=[api_budgets.c.key])
            )
            row = db.execute(
                select(api_budgets.c.day, api_budgets.c.used, api_budgets.c.recent)
                .where(api_budgets.c.key == self.key)
                .with_for_update()
            ).one()
            today = datetime.now(UTC).date().isoformat()
            used = row.used if row.day == today else 0
            if count and used >= self._per_day:
                raise QuotaExceeded(
                    f"segport has used all {self._per_day:,} requests allowed today for this API key.",
                    resets_at=next_utc_midnight(datetime.now(UTC)),
                    operation=operation,
                )
            now = time.time()
            recent = [moment for moment in orjson.loads(row.recent) if moment > now - self._window]
            start = now if len(recent) < self._slots else recent[-self._slots] + self._window
            recent = [*recent, start][-self._slots :]
            db.execute(
                update(api_budgets)
                .where(api_budgets.c.key == self.key)
                .values(day=today, used=used + int(count), recent=orjson.dumps(recent).decode())
            )
        if start > now:
            time.sleep(start - now)
        return start

    def used_today(self) -> int:
        with self._store.budgets(write=False) as db:
            row = db.execute(select(api_budgets.c.day, api_budgets.c.used).where(api_budgets.c.key == self.key)).first()
        return int(row.used) if row is not None and row.day == datetime.now(UTC).date().isoformat() else 0
