"""Segment service: create, list, show, count, preview, activate, deactivate, delete."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from segport import audit
from segport.errors import InvalidInput, Refused, UnknownName
from segport.profiles.source import load_source
from segport.segments.compiler import check_rule, definition_digest
from segport.segments.model import Combination, Definition, Group
from segport.segments.parser import parse_rule
from segport.store import Store
from segport.store.lookup import checked_name, name_of, row_named
from segport.store.tables import export_segments, exports, segment_dependencies, segments

MAX_ACTIVE_SEGMENTS = 100


@dataclass(frozen=True)
class SegmentView:
    id: int
    name: str
    rule_text: str
    stored_rule: Group | Combination | None  # None: the stored rule cannot be read (see `problem`)
    active: bool
    member_count: int | None
    counted_at: datetime | None
    description: str | None
    exports: list[str]
    used_by_segments: list[str]
    problem: str | None = None

    @property
    def rule(self) -> Group | Combination:
        """The rule, or a clear error when the stored one cannot be read (it can still be listed, edited,
        deactivated and deleted)."""
        if self.stored_rule is None:
            raise _unreadable(self.name, self.problem)
        return self.stored_rule


def _unreadable(name: str, problem: str | None) -> InvalidInput:
    return InvalidInput(
        f"The rule of segment {name!r} cannot be read ({problem}).",
        hint="Give it a new rule, or delete it.",
        field="rule",
    )


def _rule_of(row: Any) -> tuple[Group | Combination | None, str | None]:
    """The stored rule, or None and why it cannot be read (one broken segment must not break the others)."""
    try:
        return Definition.model_validate(orjson.loads(row["definition"])).rule, None
    except (orjson.JSONDecodeError, ValueError, TypeError) as exc:
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"


def _get(connection: Connection, name: str) -> Any:
    return row_named(connection, segments, name, kind="segment", create_hint="There are no segments yet: create one.")


def create_segment(
    store: Store, *, name: str, rule_text: str, actor: str, description: str | None = None, active: bool = True
) -> SegmentView:
    name = checked_name(name, kind="segment")
    rule, parser = parse_rule(rule_text)
    source = load_source(store)
    rule = check_rule(rule, source, parser)
    if isinstance(rule, Combination):
        definition_digest([rule], resolver(store))  # every combined segment readable, not combined too deep
    now = datetime.now(UTC)
    with store.begin() as connection:
        if isinstance(rule, Combination):
            ids = [_get(connection, member)["id"] for member in rule.segments]
        if active:
            _check_active_cap(connection)
        try:
            segment_id = connection.execute(
                insert(segments).values(
                    name=name,
                    description=description,
                    rule_text=rule_text.strip(),
                    definition=Definition(rule=rule).model_dump_json(),
                    active=active,
                    created_by=actor,
                    created_at=now,
                    updated_at=now,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        except IntegrityError:
            raise Refused(f"A segment named {name!r} already exists.", hint="Choose another name.") from None
        if isinstance(rule, Combination):
            connection.execute(
                insert(segment_dependencies), [{"segment_id": segment_id, "depends_on_id": other} for other in set(ids)]
            )
        audit.record(connection, actor, "segment.created", name, rule=rule_text, active=active)
    return show_segment(store, name=name)


def edit_segment(
    store: Store,
    *,
    name: str,
    actor: str,
    rule_text: str | None = None,
    description: str | None = None,
    new_name: str | None = None,
) -> SegmentView:
    """Change a segment's name, rule and/or description. Exports that use it compare every member on their
    next run when the rule changed; a new name changes nothing for them (they hold the segment, not its name)."""
    current = show_segment(store, name=name)
    values: dict[str, Any] = {"updated_at": datetime.now(UTC)}
    renamed = checked_name(new_name, kind="segment") if new_name is not None else ""
    if renamed and renamed != current.name:
        if current.used_by_segments:
            raise Refused(
                f"The segment {name!r} cannot be renamed: the rules of {', '.join(current.used_by_segments)} name it.",
                hint="Rename it after changing those segments' rules, or duplicate it under the new name.",
            )
        values["name"] = renamed
    rule = None
    if rule_text is not None:
        parsed, parser = parse_rule(rule_text)
        rule = check_rule(parsed, load_source(store), parser)
        if isinstance(rule, Combination) and current.name not in rule.segments:
            definition_digest([rule], resolver(store))  # every combined segment readable, not combined too deep
        values.update(
            rule_text=rule_text.strip(), definition=Definition(rule=rule).model_dump_json(), member_count=None
        )
    if description is not None:
        values["description"] = description or None
    with store.begin() as connection:
        if rule is not None:
            ids = (
                {_get(connection, member)["id"] for member in rule.segments} if isinstance(rule, Combination) else set()
            )
            loop = ids & (_dependents(connection, current.id) | {current.id})
            if loop:
                raise Refused(
                    f"The segment {name!r} cannot combine a segment that is built on it (that would be a loop).",
                    hint="Combine only segments that do not use this one.",
                )
            connection.execute(delete(segment_dependencies).where(segment_dependencies.c.segment_id == current.id))
            if ids:
                connection.execute(
                    insert(segment_dependencies), [{"segment_id": current.id, "depends_on_id": other} for other in ids]
                )
        try:
            connection.execute(update(segments).where(segments.c.id == current.id).values(**values))
        except IntegrityError:
            raise Refused(f"A segment named {renamed!r} already exists.", hint="Choose another name.") from None
        audit.record(
            connection,
            actor,
            "segment.changed",
            name,
            rule=rule_text,
            description=description,
            new_name=values.get("name"),
        )
    return show_segment(store, name=values.get("name", name))


def _dependents(connection: Connection, segment_id: int) -> set[int]:
    """Every segment built on this one, directly or through others."""
    found: set[int] = set()
    frontier = {segment_id}
    while frontier:
        users = set(
            connection.execute(
                select(segment_dependencies.c.segment_id).where(segment_dependencies.c.depends_on_id.in_(frontier))
            ).scalars()
        )
        frontier = users - found
        found |= users
    return found


def _check_active_cap(connection: Connection) -> None:
    active = connection.execute(select(func.count()).select_from(segments).where(segments.c.active)).scalar_one()
    if active >= MAX_ACTIVE_SEGMENTS:
        raise Refused(
            f"There are already {MAX_ACTIVE_SEGMENTS} active segments, the most allowed.",
            hint="Deactivate a segment first.",
        )


def list_segments(store: Store) -> list[SegmentView]:
    """Every segment, by name: three queries whatever their number (the exports using each, and the
    combinations naming each, are read for all at once)."""
    with store.read() as connection:
        rows = connection.execute(select(segments).order_by(segments.c.name)).mappings().all()
        used_in = _names_by_segment(
            connection,
            select(export_segments.c.segment_id, exports.c.name)
            .join(exports, export_segments.c.export_id == exports.c.id)
            .order_by(exports.c.name),
        )
        dependants = _names_by_segment(
            connection,
            select(segment_dependencies.c.depends_on_id, segments.c.name)
            .join(segments, segment_dependencies.c.segment_id == segments.c.id)
            .order_by(segments.c.name),
        )
    return [_view(row, used_in.get(row["id"], []), dependants.get(row["id"], [])) for row in rows]


def _names_by_segment(connection: Connection, query: Any) -> dict[int, list[str]]:
    """(segment id, name) rows grouped by segment, in the query's order."""
    grouped: dict[int, list[str]] = {}
    for segment_id, name in connection.execute(query):
        grouped.setdefault(segment_id, []).append(name)
    return grouped


def show_segment(store: Store, *, name: str) -> SegmentView:
    with store.read() as connection:
        row = _get(connection, name)
        used_in = (
            connection.execute(
                select(exports.c.name)
                .join(export_segments, export_segments.c.export_id == exports.c.id)
                .where(export_segments.c.segment_id == row["id"])
                .order_by(exports.c.name)
            )
            .scalars()
            .all()
        )
        dependants = (
            connection.execute(
                select(segments.c.name)
                .join(segment_dependencies, segment_dependencies.c.segment_id == segments.c.id)
                .where(segment_dependencies.c.depends_on_id == row["id"])
                .order_by(segments.c.name)
            )
            .scalars()
            .all()
        )
    return _view(row, list(used_in), list(dependants))


def _view(row: Any, used_in: list[str], dependants: list[str]) -> SegmentView:
    rule, problem = _rule_of(row)
    return SegmentView(
        row["id"],
        row["name"],
        row["rule_text"],
        rule,
        row["active"],
        row["member_count"],
        row["counted_at"],
        row["description"],
        used_in,
        dependants,
        problem,
    )


def resolver(store: Store) -> Any:
    """name -> (rule, active), read from the store, for compiling combinations."""

    def resolve(name: str) -> tuple[Group | Combination, bool]:
        with store.read() as connection:
            try:
                row = _get(connection, name)
            except UnknownName as unknown:  # a rule naming a segment that does not exist: the rule is wrong
                raise InvalidInput(
                    f"The rule combines the segment {name!r}, which does not exist.",
                    hint=unknown.hint,
                    field="rule",
                ) from None
        rule, problem = _rule_of(row)
        if rule is None:
            raise _unreadable(name, problem)
        return rule, bool(row["active"])

    return resolve


def duplicate_segment(store: Store, *, name: str, new_name: str, actor: str) -> SegmentView:
    """A new segment with the same rule and description (R70's Create duplicate), active like the original."""
    original = show_segment(store, name=name)
    copy = create_segment(
        store,
        name=new_name,
        rule_text=original.rule_text,
        description=original.description,
        active=original.active,
        actor=actor,
    )
    with store.begin() as connection:
        audit.record(connection, actor, "segment.duplicated", copy.name, original=name)
    return copy


def set_active(store: Store, *, name: str, active: bool, actor: str) -> SegmentView:
    with store.begin() as connection:
        row = _get(connection, name)
        if active and not row["active"]:
            _check_active_cap(connection)
        connection.execute(
            update(segments).where(segments.c.id == row["id"]).values(active=active, updated_at=datetime.now(UTC))
        )
        audit.record(connection, actor, "segment.activated" if active else "segment.deactivated", name)
    return show_segment(store, name=name)


def delete_segment(store: Store, *, name: str, actor: str) -> None:
    segment = show_segment(store, name=name)
    if segment.exports:
        raise Refused(
            f"The segment {name!r} is used by the exports: {', '.join(segment.exports)}.",
            hint="Remove it from those exports, or remove the exports first.",
        )
    if segment.used_by_segments:
        raise Refused(
            f"The segment {name!r} is combined into: {', '.join(segment.used_by_segments)}.",
            hint="Delete those segments first.",
        )
    with store.begin() as connection:
        connection.execute(delete(segments).where(segments.c.id == segment.id))
        audit.record(connection, actor, "segment.deleted", name)


def segment_name(store: Store, *, segment_id: int) -> str:
    """The name of the segment with this id (its routes take either)."""
    with store.read() as db:
        return name_of(db, segments, segment_id, kind="segment")
