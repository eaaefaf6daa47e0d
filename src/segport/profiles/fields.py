"""Profile fields: names made usable in segment rules, and column types inferred from the values."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
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

    def __init__(self) -> None:
        self.candidates = {"boolean", "integer", "number", "date", "datetime"}
        self.seen = False

    def observe(self, value: str) -> None:
        if not value:
            return
        self.seen = True
        if not self.candidates:
            return
        lowered = value.strip().lower()
        self.candidates = {kind for kind in self.candidates if _FITS[kind](lowered)}

    @property
    def type(self) -> str:
        if not self.seen:
            return "text"
        for kind in ("boolean", "integer", "number", "date", "datetime"):
            if kind in self.candidates:
                return kind
        return "text"


_FITS: dict[str, Any] = {
    "boolean": lambda text: text in TRUE_WORDS | FALSE_WORDS,
    "integer": lambda text: _INTEGER.match(text) is not None,
    "number": lambda text: _NUMBER.match(text) is not None,
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


def convert(value: str, kind: str) -> Any:
    """A text value as the Python value stored for its column type (empty -> None)."""
    if value == "":
        return None
    if kind == "text":
        return value
    stripped = value.strip()
    if kind == "integer":
        return int(stripped)
    if kind == "number":
        return float(stripped)
    if kind == "boolean":
        return stripped.lower() in TRUE_WORDS
    if kind == "date":
        return date.fromisoformat(stripped)
    return _parse_datetime(stripped)
