"""Profile fields: names made usable in segment rules, and column types inferred from the values."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

FIELD_TYPES = ("text", "integer", "number", "boolean", "date", "datetime")
TRUE_WORDS = {"true", "yes"}
FALSE_WORDS = {"false", "no"}
_INTEGER = re.compile(r"^[+-]?(0|[1-9]\d{0,17})$")  # leading zeros mean an identifier (zip, phone): text
_NUMBER = re.compile(r"^[+-]?((0|[1-9]\d*)(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")


def field_name(header: str) -> str:
    """A header as a rule-friendly name: `Lifetime Value (CAD)` -> `lifetime_value_cad`."""
    ascii_text = unicodedata.normalize("NFKD", header).encode("ascii", "ignore").decode("ascii")
    name = re.sub(r"[^0-9a-zA-Z]+", "_", ascii_text).strip("_").lower()
    if not name:
        name = "field"
    if name[0].isdigit():
        name = f"f_{name}"
    return name


class TypeGuess:
    """Narrows a column's type as values stream past: every non-empty value must fit the type chosen."""

    # Values already seen to fit the candidates left (dates, flags and counts repeat): checked once. Bounded,
    # so a column of a million distinct numbers costs no memory.
    REMEMBERED = 4_096

    def __init__(self) -> None:
        self.candidates = {"boolean", "integer", "number", "date", "datetime"}
        self.seen = False
        self._fitting: set[str] = set()

    @property
    def decided(self) -> bool:
        """No value can change the outcome any more: the column is text."""
        return self.seen and not self.candidates

    def observe(self, value: str) -> None:
        if not value or value in self._fitting:
            return
        self.seen = True
        if not self.candidates:
            return
        lowered = value.strip().lower()
        self.candidates = {kind for kind in self.candidates if _FITS[kind](lowered)}
        # Candidates only shrink, so a value that fitted them all still fits every one left.
        if len(self._fitting) < self.REMEMBERED:
            self._fitting.add(value)

    def checker(self, *, parsed_after: bool = False) -> Callable[[str], bool]:
        """A check of further non-empty values: whether each leaves the type as it is (without observing it).
        An import that guessed the types from the first rows checks every later value with it, and reads the
        whole file again at the first False.

        Exact for a column with values: the type stays iff every later value fits it (candidates only shrink,
        and the type is the first of them). A column without any value yet says False to any value that some
        type would take (the type could then become that one): cautious, never wrong.

        With `parsed_after`, a date or a moment is only matched against its pattern, not parsed: the caller
        parses each value next, and must take a value that fails to parse as one that does not fit (a million
        moments were parsed twice otherwise, a twentieth of an import).
        """
        if not self.seen:
            return lambda value: not any(fits(value.strip().lower()) for fits in _FITS.values())
        if not self.candidates:
            return lambda _value: True
        fits = (_SHAPES if parsed_after else _FITS)[self.type]
        fitting = self._fitting  # values that fitted every candidate fit the first
        return lambda value: value in fitting or fits(value.strip().lower())

    @property
    def type(self) -> str:
        if not self.seen:
            return "text"
        for kind in ("boolean", "integer", "number", "date", "datetime"):
            if kind in self.candidates:
                return kind
        return "text"


# Whether a value (stripped, lower-cased) has the form of each type; dates and moments must also parse.
_SHAPES: dict[str, Any] = {
    "boolean": lambda text: text in TRUE_WORDS | FALSE_WORDS,
    "integer": lambda text: _INTEGER.match(text) is not None,
    "number": lambda text: _NUMBER.match(text) is not None,
    "date": lambda text: _DATE.match(text) is not None,
    "datetime": lambda text: _DATETIME.match(text.upper()) is not None,
}
_FITS: dict[str, Any] = {
    **_SHAPES,
    "date": lambda text: _DATE.match(text) is not None and _parses(date.fromisoformat, text),
    "datetime": lambda text: _DATETIME.match(text.upper()) is not None and _parses(_parse_datetime, text.upper()),
}


def _parses(parse: Any, value: str) -> bool:
    try:
        parse(value)
    except ValueError:
        return False
    return True


def _parse_datetime(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "T", 1))


def stored_datetime(value: datetime) -> datetime:
    """A moment as the profiles keep it: UTC without an offset (the same on every store, whatever its time zone)."""
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def convert(value: str, kind: str) -> Any:
    """A text value as the Python value stored for its column type (empty -> None)."""
    if value == "":
        return None
    parse = parser(kind)
    return value if parse is None else parse(value)


def parser(kind: str) -> Any:
    """The function that turns a non-empty text value into its column type's value; None for text (kept as is).

    The importer calls these per value (a million rows, a dozen columns): one lookup per column, not per value.
    """
    return _PARSERS[kind]


def _boolean(value: str) -> bool:
    return value.strip().lower() in TRUE_WORDS


def _date(value: str) -> date:
    return date.fromisoformat(value.strip())


def _datetime(value: str) -> datetime:
    # Upper-cased as the type check reads it: "2024-01-01t10:00z" is a moment there, so it must parse here.
    return _parse_datetime(value.strip().upper())


# int() and float() take surrounding blanks themselves.
_PARSERS: dict[str, Any] = {
    "text": None,
    "integer": int,
    "number": float,
    "boolean": _boolean,
    "date": _date,
    "datetime": _datetime,
}
