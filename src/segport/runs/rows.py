"""The rows a run did not send, did not add or removed, a page at a time: searched by profile key or email and
filtered by reason, for the run page's table and `GET /api/runs/{id}/rows`. The CSV (history.rows_csv) has
them all at once.

A run can hold a million such rows: a page is one query on the run's rows (its run_id index narrows it) with
OFFSET and LIMIT, and the reasons' counts one GROUP BY. The search is a case-insensitive substring match (LIKE,
with its wildcards escaped, so a % or _ typed is looked for as such).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select

from segport.errors import InvalidInput
from segport.limits import LARGEST_INTEGER
from segport.runs.history import show_run
from segport.store import Store
from segport.store.tables import run_rows

PER_PAGE = 50
MAX_PER_PAGE = 500
MAX_SEARCH = 200


@dataclass(frozen=True)
class RowsPage:
    run_id: int
    rows: list[dict[str, Any]]  # profile_key, email, reason, detail
    total: int  # the rows that match the search and the reason
    reasons: dict[str, int]  # every reason of the run, with how many rows have it
    search: str
    reason: str
    offset: int
    limit: int

    @property
    def next_offset(self) -> int | None:
        return self.offset + self.limit if self.offset + self.limit < self.total else None

    @property
    def previous_offset(self) -> int | None:
        return max(0, self.offset - self.limit) if self.offset > 0 else None

    @property
    def first_shown(self) -> int:
        return self.offset + 1 if self.rows else 0

    @property
    def last_shown(self) -> int:
        return self.offset + len(self.rows)


def rows_page(
    store: Store, *, run_id: int, search: str = "", reason: str = "", offset: int = 0, limit: int = PER_PAGE
) -> RowsPage:
    """One page of the run's rows, in the order the run recorded them."""
    show_run(store, run_id=run_id, with_details=False)  # an unknown run is named as such
    search, reason = search.strip(), reason.strip()
    if len(search) > MAX_SEARCH:
        raise InvalidInput(f"The search is longer than {MAX_SEARCH} characters.", hint="Search for less.")
    if not 1 <= limit <= MAX_PER_PAGE or not 0 <= offset <= LARGEST_INTEGER:
        raise InvalidInput(
            f"A page holds 1 to {MAX_PER_PAGE} rows and starts at 0 to {LARGEST_INTEGER:,}.",
            hint="Pass limit and offset within.",
        )
    with store.read() as db:
        reasons = {
            str(found): int(number)
            for found, number in db.execute(
                select(run_rows.c.reason, func.count())
                .where(run_rows.c.run_id == run_id)
                .group_by(run_rows.c.reason)
                .order_by(func.count().desc())
            )
        }
        if reason and reason not in reasons:
            raise InvalidInput(
                f"Run {run_id} has no rows with the reason {reason!r}.",
                hint=f"Its reasons: {', '.join(reasons) or 'none, every member was sent'}.",
            )
        condition = and_(run_rows.c.run_id == run_id, *([run_rows.c.reason == reason] if reason else []))
        if search:
            needle = search.lower()
            condition = and_(
                condition,
                or_(
                    func.lower(run_rows.c.profile_key).contains(needle, autoescape=True),
                    func.lower(func.coalesce(run_rows.c.email, "")).contains(needle, autoescape=True),
                ),
            )
        if search:
            total = int(db.execute(select(func.count()).select_from(run_rows).where(condition)).scalar_one())
        else:
            total = reasons[reason] if reason else sum(reasons.values())
        rows = [
            dict(row)
            for row in db.execute(
                select(run_rows.c.profile_key, run_rows.c.email, run_rows.c.reason, run_rows.c.detail)
                .where(condition)
                .order_by(run_rows.c.id)
                .offset(offset)
                .limit(limit)
            ).mappings()
        ]
    return RowsPage(run_id, rows, total, reasons, search, reason, offset, limit)
