"""What the segments and exports use of the profile fields, and what new fields would break.

A new file (or warehouse table) may lack a column, or hold another type in it, that an active segment's rule or
an export's email, name or mapped field needs: every run and refresh would then fail until someone edits them.
An import (or a connect) says so before it changes anything. Only what the fields loaded now serve and the new
ones would not is named: a segment already broken is not the new file's doing.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson
from sqlalchemy import Connection, select

from segport.errors import InvalidInput
from segport.profiles.source import Field, ProfileSource, build_table
from segport.segments.compiler import check_rule
from segport.segments.model import Combination, Definition, Group
from segport.store.tables import export_fields, exports, profile_fields, segments

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


# kind -> the fix, in the words of what brings the new fields
FIXES = {
    "file": "Add those columns to the file (with the same types), or edit those segments and exports first. To "
    "load it anyway, import it again allowing that: they fail until edited.",
    "table": "Add those columns to the table (or connect a view that has them), or edit those segments and exports "
    "first. To use it anyway, connect it again allowing that: they fail until edited.",
}


def check_uses(connection: Connection, new: list[Field], name: str, kind: str = "file") -> None:
    """Refuse the fields of the file or table `name` when they would break segments or exports, naming them
    (the caller skips this when allowed)."""
    broken = broken_by(connection, new, kind)
    if not broken:
        return
    named = "; ".join(broken[:SHOWN]) + (f"; and {len(broken) - SHOWN:,} more" if len(broken) > SHOWN else "")
    raise InvalidInput(
        f"{name} does not fit what is built on the profiles: {named}. Nothing was changed.",
        hint=FIXES[kind],
        field="allow_breaking",
    )
