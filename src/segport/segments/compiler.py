"""Checking a rule against the profile fields, and compiling it to ONE SQLAlchemy expression.

Field names are checked against the profile schema and values against each field's type before any SQL is
built; values travel as bound parameters, never as SQL text. The database does the filtering.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import Boolean, String, and_, except_, false, intersect, literal, not_, or_, select, union
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause
from sqlalchemy.sql.visitors import InternalTraversal

from segport.errors import InvalidInput
from segport.profiles.source import Field, ProfileSource
from segport.segments.model import (
    COMPARISONS,
    LARGEST_NUMBER,
    LIST_VALUE,
    MAX_COMBINATION_DEPTH,
    MAX_COMBINED,
    MAX_CONDITIONS,
    MAX_DEPTH,
    MAX_VALUE_LENGTH,
    MAX_VALUES,
    NO_VALUE,
    Combination,
    Condition,
    Group,
    Scalar,
)
from segport.segments.parser import Parser, SegmentSyntaxError
from segport.wording import a

ALLOWED: dict[str, set[str]] = {
    "text": {*COMPARISONS, *LIST_VALUE, *NO_VALUE, "between", "contains", "starts with", "ends with"},
    "integer": {*COMPARISONS, *LIST_VALUE, *NO_VALUE, "between"},
    "number": {*COMPARISONS, *LIST_VALUE, *NO_VALUE, "between"},
    "date": {*COMPARISONS, *LIST_VALUE, *NO_VALUE, "between"},
    "datetime": {*COMPARISONS, *LIST_VALUE, *NO_VALUE, "between"},
    "boolean": {"=", "!=", *NO_VALUE},
}

Resolver = Callable[[str], "tuple[Group | Combination, bool]"]  # segment name -> (rule, active)


class RuleProblem(InvalidInput):
    pass


def check_rule(rule: Group | Combination, source: ProfileSource, parser: Parser | None = None) -> Group | Combination:
    """The rule, once it is within the limits, every field exists and every value fits its field's type; a clear
    error otherwise."""
    check_limits(rule)
    if isinstance(rule, Combination):
        return rule
    return _check_group(rule, source, parser, "rule")


def check_limits(rule: Group | Combination) -> None:
    """The limits of model.py, for a rule written as text or sent as JSON."""
    if isinstance(rule, Combination):
        if len(rule.segments) > MAX_COMBINED:
            raise RuleProblem(
                f"A combination names {len(rule.segments)} segments; segport combines up to {MAX_COMBINED}.",
                hint="Combine some of them into a segment first, then combine that.",
            )
        return
    conditions = values = 0
    stack: list[tuple[Group, int]] = [(rule, 1)]
    while stack:
        group, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise RuleProblem(f"Groups are nested more than {MAX_DEPTH} deep.", hint="Simplify the rule.")
        for item in group.conditions:
            if isinstance(item, Group):
                stack.append((item, depth + 1))
                continue
            conditions += 1
            items = item.value if isinstance(item.value, list) else [item.value]
            values += len(items)
            for value in items:
                _check_value(item.field, value)
    if conditions > MAX_CONDITIONS:
        raise RuleProblem(
            f"The rule has {conditions} conditions; segport takes up to {MAX_CONDITIONS}.",
            hint="Split it into segments and combine them.",
        )
    if values > MAX_VALUES:
        raise RuleProblem(
            f"The rule holds {values:,} values; segport takes up to {MAX_VALUES:,}.",
            hint="Split long 'in (...)' lists into segments and combine them with union.",
        )


def _check_value(field: str, value: Scalar | None) -> None:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int | float) and not (math.isfinite(value) and abs(value) <= LARGEST_NUMBER):
        raise RuleProblem(
            f"The value for {field} is out of range: segport compares numbers up to {LARGEST_NUMBER:,} either way.",
            hint="Check the number; for a code or an identifier, compare the field as text.",
        )
    if isinstance(value, str) and (len(value) > MAX_VALUE_LENGTH or "\x00" in value):
        raise RuleProblem(
            f"The text value for {field} is longer than {MAX_VALUE_LENGTH:,} characters or holds a NUL character.",
            hint="Shorten it, or use 'contains' with a part of it.",
        )


def _check_group(group: Group, source: ProfileSource, parser: Parser | None, path: str) -> Group:
    checked: list[Condition | Group] = []
    for index, item in enumerate(group.conditions):
        where = f"{path}.conditions[{index}]"
        checked.append(
            _check_group(item, source, parser, where)
            if isinstance(item, Group)
            else _check_condition(item, source, parser, where)
        )
    return Group(join=group.join, conditions=checked)


def _problem(
    parser: Parser | None, condition: Condition, part: str, where: str, problem: str, hint: str
) -> InvalidInput:
    if parser is not None and id(condition) in parser.spans:
        start, end = getattr(parser.spans[id(condition)], part)
        return SegmentSyntaxError(parser.source, start, end, problem, hint)
    return RuleProblem(f"{where}.{part}: {problem}.", hint=hint)


def _check_condition(condition: Condition, source: ProfileSource, parser: Parser | None, where: str) -> Condition:
    field = source.field(condition.field)
    if field is None:
        names = ", ".join(f.name for f in source.fields)
        raise _problem(
            parser, condition, "field", where, f"Unknown field {condition.field!r}", f"The profile fields are: {names}."
        )
    if condition.operator not in ALLOWED[field.type]:
        raise _problem(
            parser,
            condition,
            "field",
            where,
            f"{field.name} is {a(field.type)} field: {condition.operator!r} does not apply to it",
            f"For {field.type} fields use: {', '.join(sorted(ALLOWED[field.type]))}.",
        )
    value = condition.value
    if condition.operator in NO_VALUE:
        return condition.model_copy(update={"value": None})
    values = value if isinstance(value, list) else [value]
    if condition.operator == "between" and len(values) != 2:
        raise _problem(parser, condition, "value", where, "between takes two values", "Write: x between 1 and 5.")
    if condition.operator not in (*LIST_VALUE, "between") and isinstance(value, list):
        raise _problem(
            parser,
            condition,
            "value",
            where,
            f"{condition.operator!r} takes one value",
            "Use 'in' for a list of values.",
        )
    for item in values:
        _typed(item, field, parser, condition, where)
    return condition


def _typed(value: Scalar | None, field: Field, parser: Parser | None, condition: Condition, where: str) -> Any:
    kind = field.type
    wrong = _problem(
        parser, condition, "value", where, f"{value!r} is not {a(kind)} value for {field.name}", _example(kind)
    )
    if value is None:
        raise wrong
    if kind == "text":
        if not isinstance(value, str):
            raise wrong
        return value
    if kind in ("integer", "number"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise wrong
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise wrong
        return value
    if not isinstance(value, str):
        raise wrong
    try:
        return date.fromisoformat(value) if kind == "date" else datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise wrong from None


def _example(kind: str) -> str:
    return {
        "text": 'Put text in double quotes, e.g. "CA".',
        "integer": "Write a number without quotes, e.g. 500.",
        "number": "Write a number without quotes, e.g. 499.99.",
        "boolean": "Write true or false.",
        "date": 'Write a date as "2025-01-31".',
        "datetime": 'Write a date and time as "2025-01-31T09:30:00".',
    }[kind]


def rule_condition(rule: Group, source: ProfileSource) -> ColumnElement[bool]:
    """A checked rule as a WHERE expression over the source's table."""
    parts = [
        rule_condition(item, source) if isinstance(item, Group) else _condition(item, source)
        for item in rule.conditions
    ]
    return and_(*parts) if rule.join == "and" else or_(*parts)


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class _LikeIgnoringCase(ColumnElement[bool]):
    """`column` matches `pattern` whatever the case; the pattern's own %, _ and backslashes are escaped with a
    backslash. Written per dialect: most name the escape character (SQLite has no default one), BigQuery's LIKE
    takes no ESCAPE clause (a backslash escapes there by default)."""

    type = Boolean()
    inherit_cache = True
    # Both in the statement's cache key: two rules differing only in their column or pattern compile apart.
    _traverse_internals = [  # noqa: RUF012 - SQLAlchemy's own class attribute, a list there
        ("column", InternalTraversal.dp_clauseelement),
        ("pattern", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: ColumnElement[Any], pattern: str) -> None:
        self.column = column
        self.pattern = literal(pattern, String())

    @property
    def _from_objects(self) -> list[FromClause]:  # the column's table, as for any comparison of it
        return self.column._from_objects


@compiles(_LikeIgnoringCase)
def _like_naming_the_escape(element: _LikeIgnoringCase, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column.ilike(element.pattern, escape="\\"), **kw)


@compiles(_LikeIgnoringCase, "bigquery")
def _like_escaped_by_default(element: _LikeIgnoringCase, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column.ilike(element.pattern), **kw)


def _bound(value: Any, kind: str) -> Any:
    """A checked value as the Python type its column compares with (dates are written as text in rules)."""
    if isinstance(value, list):
        return [_bound(item, kind) for item in value]
    if kind == "date" and isinstance(value, str):
        return date.fromisoformat(value)
    if kind == "datetime" and isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


def _condition(condition: Condition, source: ProfileSource) -> ColumnElement[bool]:
    column = source.as_text(condition.field)
    field = source.field(condition.field)
    operator = condition.operator
    value = _bound(condition.value, field.type if field is not None else "text")
    empty = column.is_(None) | (column == "") if field is not None and field.type == "text" else column.is_(None)
    if operator == "is empty":
        return empty
    if operator == "is not empty":
        return not_(empty)
    if operator == "between":
        assert isinstance(value, list)
        return column.between(value[0], value[1])
    if operator == "in":
        assert isinstance(value, list)
        return column.in_(value)
    if operator == "not in":
        assert isinstance(value, list)
        return column.not_in(value) | column.is_(None)
    if operator in ("contains", "starts with", "ends with"):
        text = _escape_like(str(value))
        pattern = {"contains": f"%{text}%", "starts with": f"{text}%", "ends with": f"%{text}"}[operator]
        return _LikeIgnoringCase(column, pattern)
    comparisons: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
        "=": lambda c, v: c == v,
        "!=": lambda c, v: (c != v) | c.is_(None),
        "<": lambda c, v: c < v,
        "<=": lambda c, v: c <= v,
        ">": lambda c, v: c > v,
        ">=": lambda c, v: c >= v,
    }
    return comparisons[operator](column, value)


# Each compilation names its common table expressions apart, so two of them can sit in one statement (a query
# and an EXISTS inside it, say) without their names clashing.
_COMPILATIONS = itertools.count(1)


class _Keys:
    """Compiles combinations of segments: each segment named anywhere in them becomes ONE common table
    expression (WITH segment_... AS (SELECT key ...)), used by name wherever it appears, so the SQL grows with
    the number of segments, not with the number of paths through their combinations."""

    def __init__(self, source: ProfileSource, resolve: Resolver) -> None:
        self.source = source
        self.resolve = resolve
        self.key = source.table.c[source.key]
        self.compilation = next(_COMPILATIONS)
        self.segments: dict[str, Any] = {}

    def of_rule(self, rule: Group | Combination, depth: int = 0) -> Any:
        """SELECT key of the rule's members (a set operation over segments for a combination)."""
        if isinstance(rule, Group):
            return select(self.key).where(rule_condition(rule, self.source))
        if depth >= MAX_COMBINATION_DEPTH:
            raise RuleProblem(
                f"Segments are combined more than {MAX_COMBINATION_DEPTH} levels deep.",
                hint="Simplify the combination: combine fewer segments that are themselves combinations.",
            )
        names = rule.segments if rule.operator == "except" else list(dict.fromkeys(rule.segments))
        parts = [select(self.of_segment(name, depth + 1).c[0]) for name in names]
        if len(parts) == 1:  # "A union A" is A
            return parts[0]
        operation = {"union": union, "intersect": intersect, "except": except_}[rule.operator]
        return operation(*parts)

    def of_segment(self, name: str, depth: int) -> Any:
        if name not in self.segments:
            rule, active = self.resolve(name)
            body = self.of_rule(rule, depth) if active else select(self.key).where(false())
            self.segments[name] = body.cte(f"segment_{self.compilation}_{len(self.segments) + 1}")
        return self.segments[name]


def segment_keys(rule: Group | Combination, source: ProfileSource, resolve: Resolver) -> Any:
    """SELECT key FROM profiles WHERE <rule>, or the set operation of the combined segments' keys."""
    return _Keys(source, resolve).of_rule(rule)


def members_condition(
    rules: list[Group | Combination], source: ProfileSource, resolve: Resolver
) -> ColumnElement[bool]:
    """Profiles in ANY of the rules: plain rules are OR-ed, combinations join as `key IN (...)`."""
    key = source.table.c[source.key]
    keys = _Keys(source, resolve)
    parts: list[ColumnElement[bool]] = []
    for rule in rules:
        if isinstance(rule, Group):
            parts.append(rule_condition(rule, source))
        else:
            parts.append(key.in_(keys.of_rule(rule).subquery().select()))
    return or_(*parts) if parts else false()


def definition_digest(rules: list[Group | Combination], resolve: Resolver) -> str:
    """A digest of what the rules mean, combined segments resolved (and whether each is active): equal for
    equal rules, whatever the SQL looks like."""
    seen: dict[str, Any] = {}

    def expand(rule: Group | Combination, depth: int) -> Any:
        if isinstance(rule, Group):
            return rule.model_dump(mode="json")
        if depth >= MAX_COMBINATION_DEPTH:
            raise RuleProblem(f"Segments are combined more than {MAX_COMBINATION_DEPTH} levels deep.")
        named = []
        for name in rule.segments:
            if name not in seen:
                inner, active = resolve(name)
                seen[name] = {"active": active, "rule": expand(inner, depth + 1)}
            named.append(name)
        return {"operator": rule.operator, "segments": named}

    top = [expand(rule, 0) for rule in rules]
    return hashlib.sha256(orjson.dumps({"rules": top, "segments": seen}, option=orjson.OPT_SORT_KEYS)).hexdigest()
