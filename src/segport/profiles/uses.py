"""What the segments and exports use of the profile fields, and what new fields would break.

A new file (or warehouse table) may lack a column, or hold another type in it, that an active segment's rule or
an export's email, name or mapped field needs: every run and refresh would then fail until someone edits them.
An import (or a connect) says so before it changes anything. Only what the fields loaded now serve and the new
ones would not is named: a segment already broken is not the new file's doing. A new key is named too, for the
exports that have run: their sync state knows each member by the key in place.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson
from sqlalchemy import Connection, exists, select

from segport.errors import InvalidInput
from segport.profiles.source import Field, ProfileSource, build_table
from segport.segments.compiler import check_rule
from segport.segments.model import Combination, Definition, Group
from segport.store.tables import export_fields, exports, profile_fields, profile_source, segments, sync_state

SHOWN = 10  # named in the refusal; the rest counted


def broken_by(connection: Connection, new: list[Field], kind: str = "file") -> list[str]:
    """What the fields in place serve and `new` (a file's or a table's: `kind`) would not: one line for each
    segment or export, by name."""
    old = [Field(row.name, row.type, row.source_name) for row in connection.execute(select(profile_fields))]
    if not old:
        return []  # nothing loaded yet, so nothing built on it
    before, after = _source(connection, old), _source(connection, new)
    return [*_segments(connection, before, after, kind), *_exports(connection, before, after, kind)]


def _source(connection: Connection, fields: list[Field]) -> ProfileSource:
    """Enough of a source to check rules against (names and types)."""
    return ProfileSource("embedded", connection.engine, build_table("profiles", fields), "", fields, None, "")


def _segments(connection: Connection, before: ProfileSource, after: ProfileSource, kind: str) -> Iterator[str]:
    rows = connection.execute(
        select(segments.c.name, segments.c.definition).where(segments.c.active).order_by(segments.c.name)
    )
    for name, definition in rows:
        try:
            rule = Definition.model_validate(orjson.loads(definition)).rule
        except (orjson.JSONDecodeError, ValueError, TypeError):
            continue  # unreadable already: its page says so
        if isinstance(rule, Combination) or not _fits(rule, before):
            continue  # a combination follows the segments it combines, which are checked themselves
        if not _fits(rule, after):
            yield f"segment {name!r} ({_what_changed(_fields_of(rule), before, after, kind)})"


def _fits(rule: Group, source: ProfileSource) -> bool:
    try:
        check_rule(rule, source)
    except InvalidInput:
        return False
    return True


def _fields_of(rule: Group) -> list[str]:
    names: list[str] = []
    stack = [rule]
    while stack:
        for item in stack.pop().conditions:
            if isinstance(item, Group):
                stack.append(item)
            elif item.field not in names:
                names.append(item.field)
    return names


def _what_changed(names: list[str], before: ProfileSource, after: ProfileSource, kind: str) -> str:
    """'uses spend, which the file lacks', 'spend is now text, was integer': the fields that changed."""
    parts = []
    for name in names:
        old, new = before.field(name), after.field(name)
        if old is None:
            continue
        if new is None:
            parts.append(f"uses {name}, which the {kind} lacks")
        elif new.type != old.type:
            parts.append(f"{name} is now {new.type}, was {old.type}")
    return "; ".join(parts) or "its rule no longer fits the fields"


def _exports(connection: Connection, before: ProfileSource, after: ProfileSource, kind: str) -> Iterator[str]:
    mapped: dict[int, list[str]] = {}
    for export_id, source_field in connection.execute(select(export_fields.c.export_id, export_fields.c.source_field)):
        mapped.setdefault(export_id, []).append(source_field)
    rows = connection.execute(
        select(
            exports.c.id,
            exports.c.name,
            exports.c.email_field,
            exports.c.first_name_field,
            exports.c.last_name_field,
        ).order_by(exports.c.name)
    )
    for export_id, name, email, first, last in rows:
        used = [("email field", email), ("first name field", first), ("last name field", last)]
        used += [("mapped field", field) for field in mapped.get(export_id, [])]
        problems = []
        for role, field in used:
            old, new = (None, None) if field is None else (before.field(field), after.field(field))
            if old is None:
                continue  # not set, or missing already
            if new is None:
                problems.append(f"its {role} {field} is not in the {kind}")
            elif role == "email field" and old.type == "text" and new.type != "text":
                problems.append(f"its email field {field} now holds {new.type} values")
        if problems:
            yield f"export {name!r} ({'; '.join(problems)})"


def _known_by_another_key(connection: Connection, old_key: str, key: str) -> list[str]:
    """Exports that have run know their members by the key in place (their sync state): under another key every
    member is new to them (sent again), and in mirror mode every one they sent seems to have left."""
    have_run = exists().where(sync_state.c.export_id == exports.c.id)
    found = connection.execute(select(exports.c.name, exports.c.mode).where(have_run).order_by(exports.c.name))
    return [
        f"export {name!r} (knows its members by {old_key}: by {key} every one is new to it"
        f"{', and its mirror runs would see every member it sent as leaving' if mode == 'mirror' else ''})"
        for name, mode in found
    ]


def check_uses(connection: Connection, new: list[Field], key: str, name: str, kind: str = "file") -> None:
    """Refuse the fields and key of the file or table `name` when they would break segments or exports, naming
    them (the caller skips this when allowed)."""
    broken = broken_by(connection, new, kind)
    old_key = connection.execute(select(profile_source.c.key_field)).scalar()
    rekeyed = _known_by_another_key(connection, old_key, key) if old_key not in (None, key) else []
    if not broken and not rekeyed:
        return
    named = [*broken, *rekeyed]
    listed = "; ".join(named[:SHOWN]) + (f"; and {len(named) - SHOWN:,} more" if len(named) > SHOWN else "")
    fixes = []
    if broken:
        where = "file (with the same types)" if kind == "file" else "table (or connect a view that has them)"
        fixes.append(f"Add those columns to the {where}, or edit those segments and exports first.")
    if rekeyed:
        fixes.append(f"Keep {old_key} as the key.")
    again = "import it again" if kind == "file" else "connect it again"
    fixes.append(f"To go ahead anyway, {again} allowing that: what is broken fails until edited.")
    raise InvalidInput(
        f"{name} does not fit what is built on the profiles: {listed}. Nothing was changed.",
        hint=" ".join(fixes),
        field="allow_breaking",
    )
