"""Who is in a segment: counts (recorded, with their trend), estimates while editing, the preview of the
first members and the download of all of them."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from segport.clock import as_utc
from segport.profiles.source import ProfileSource, load_source
from segport.segments.compiler import check_rule, members_condition, segment_keys
from segport.segments.parser import parse_rule
from segport.segments.service import SegmentView, resolver, show_segment
from segport.store import Store
from segport.store.tables import segment_counts, segments

PREVIEW_ROWS = 100
HISTORY_DAYS = 400  # a year of trend, and a little more to compare with
HISTORY_KEPT = timedelta(days=HISTORY_DAYS)


@contextmanager
def _explained(source: ProfileSource) -> Iterator[None]:
    """A query over the profiles that fails is explained when a warehouse's table changed since it was connected
    (check_columns names the columns gone); any other failure goes on as it was. Asked only on failure: counts
    are asked as a rule is typed, and a check before each would double the warehouse's queries."""
    try:
        yield
    except SQLAlchemyError:
        source.check_columns()
        raise


def _counted(source: ProfileSource, condition: Any) -> int:
    with _explained(source), source.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(source.table).where(condition)).scalar_one())


def count_segment(store: Store, *, name: str) -> int:
    """Members of the segment now (0 when inactive); the count is recorded on the segment."""
    segment = show_segment(store, name=name)
    source = load_source(store)
    members = _count(source, segment, store) if segment.active else 0
    now = datetime.now(UTC)
    with store.begin() as connection:
        connection.execute(
            update(segments).where(segments.c.id == segment.id).values(member_count=members, counted_at=now)
        )
        connection.execute(insert(segment_counts).values(segment_id=segment.id, counted_at=now, members=members))
        connection.execute(
            delete(segment_counts).where(
                segment_counts.c.segment_id == segment.id, segment_counts.c.counted_at < now - HISTORY_KEPT
            )
        )
    return members


def count_history(store: Store, *, name: str, since: datetime | None = None) -> list[tuple[datetime, int]]:
    """The segment's counts (when, members), oldest first, since `since` (all kept ones when None)."""
    segment = show_segment(store, name=name)
    query = select(segment_counts.c.counted_at, segment_counts.c.members).where(
        segment_counts.c.segment_id == segment.id
    )
    if since is not None:
        query = query.where(segment_counts.c.counted_at >= since)
    with store.read() as connection:
        return [
            (as_utc(moment), int(members))
            for moment, members in connection.execute(query.order_by(segment_counts.c.counted_at, segment_counts.c.id))
        ]


def _count(source: ProfileSource, segment: SegmentView, store: Store) -> int:
    return _counted(source, members_condition([check_rule(segment.rule, source)], source, resolver(store)))


def estimate(store: Store, *, rule_text: str) -> int:
    """Members a rule would have now, without saving it (the builder's size as you edit)."""
    rule, parser = parse_rule(rule_text)
    source = load_source(store)
    rule = check_rule(rule, source, parser)
    return _counted(source, members_condition([rule], source, resolver(store)))


def preview_segment(store: Store, *, name: str, limit: int = PREVIEW_ROWS) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The first `limit` members (by key), with every profile field."""
    columns, rows = member_rows(store, name=name, limit=limit)
    return columns, list(rows)


def member_rows(store: Store, *, name: str, limit: int | None = None) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
    """The profile fields, and the members (by key) with every field, streamed: the whole segment can be
    downloaded, as the original's Download CSV. An inactive segment has none."""
    segment = show_segment(store, name=name)
    source = load_source(store)
    names = [field.name for field in source.fields]
    if not segment.active:
        return names, iter(())
    keys = segment_keys(check_rule(segment.rule, source), source, resolver(store)).subquery()
    query = (
        select(*(source.as_text(field).label(field) for field in names))
        .where(source.table.c[source.key].in_(select(keys.c[0])))
        .order_by(source.table.c[source.key])
        .limit(limit)
    )

    def rows() -> Iterator[tuple[Any, ...]]:
        with _explained(source), source.engine.connect() as connection:
            for row in connection.execution_options(yield_per=5000).execute(query):
                yield tuple(row)

    # The query runs now, not when a download's body starts: a warehouse that does not answer (or a table changed
    # under it) is refused with its status and words, where the page had sent its headers and cut the file short.
    streamed = rows()
    first = next(streamed, None)
    return names, iter(()) if first is None else itertools.chain([first], streamed)
