"""The members of an export: ONE query over the profile source for the union of its active segments.

Rows come out ordered by normalised email, so duplicates arrive next to each other and are caught without
remembering every email seen; a run that resumes replays the same order.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select

from segport.exports.normalize import DUPLICATE, clean_name, normalize_email
from segport.exports.service import ExportView
from segport.profiles.source import ProfileSource
from segport.segments.compiler import check_rule, members_condition
from segport.segments.model import Combination, Group
from segport.segments.service import resolver, show_segment
from segport.store import Store

STREAM_CHUNK = 10_000


@dataclass(frozen=True)
class Member:
    position: int  # 1-based place in the ordered stream
    key: str
    email: str
    first_name: str | None
    last_name: str | None
    problem: str | None  # a reason from normalize.REASONS, or None when it can be sent
    detail: str | None
    truncated: bool


def active_rules(store: Store, export: ExportView) -> tuple[list[Group | Combination], list[str]]:
    """The rules of the export's active segments, and the names of the inactive ones (left out)."""
    rules: list[Group | Combination] = []
    inactive = []
    for name in export.segments:
        segment = show_segment(store, name=name)
        if segment.active:
            rules.append(segment.rule)
        else:
            inactive.append(name)
    return rules, inactive


def member_query(
    store: Store, source: ProfileSource, export: ExportView, rules: list[Group | Combination]
) -> Select[Any]:
    table = source.table
    checked = [check_rule(rule, source) for rule in rules]
    condition = members_condition(checked, source, resolver(store))
    email = table.c[export.email_field]
    columns = [
        table.c[source.key],
        email,
        table.c[export.first_name_field] if export.first_name_field else None,
        table.c[export.last_name_field] if export.last_name_field else None,
    ]
    return (
        select(*[column for column in columns if column is not None])
        .where(condition)
        .order_by(func.lower(func.trim(email)), table.c[source.key])
    )


def count_members(source: ProfileSource, query: Select[Any]) -> int:
    with source.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(query.order_by(None).subquery())).scalar_one())


def stream_members(source: ProfileSource, query: Select[Any], export: ExportView) -> Iterator[Member]:
    """Every member, normalised, validated and de-duplicated, in the stable order of the query."""
    has_first = export.first_name_field is not None
    has_last = export.last_name_field is not None
    previous_email = ""
    previous_key = ""
    # SQL lower() leaves non-ASCII letters alone, so such addresses may not sort next to their twins.
    non_ascii_seen: dict[str, str] = {}
    with source.engine.connect() as connection:
        result = connection.execution_options(stream_results=True, yield_per=STREAM_CHUNK).execute(query)
        for position, row in enumerate(result, start=1):
            key = str(row[0])
            email, problem = normalize_email(row[1])
            detail = None
            index = 2
            first = last = None
            truncated = False
            if has_first:
                first, cut = clean_name(row[index])
                truncated |= cut
                index += 1
            if has_last:
                last, cut = clean_name(row[index])
                truncated |= cut
            if problem is None:
                twin = previous_key if email == previous_email else None
                if twin is None and not email.isascii():
                    twin = non_ascii_seen.get(email)
                    non_ascii_seen.setdefault(email, key)
                if twin is not None:
                    problem, detail = DUPLICATE, f"same email as profile {twin}"
                else:
                    previous_email, previous_key = email, key
            yield Member(position, key, email, first, last, problem, detail, truncated)
