"""The contact properties a JSON import takes besides email and names (the spec's JsonImportContact), with the
limits the spec gives, and what the emulated service does with a row's values.

Kept apart from segport's own table (exports/properties.py) on purpose: the emulator follows the spec, so a
mistake in segport's table shows up as a refused row in the tests instead of agreeing with itself.

Inference (the spec gives limits, not what happens past them): a value over its maxLength, a value of the wrong
type and a custom field the account does not have refuse the row (error_count, with a message); a birthday
half or a date in none of the documented formats is a correctable error, as an invalid address is.
"""

from __future__ import annotations

import re
from datetime import date

CUSTOM_PREFIX = "cf:"
MAX_CUSTOM_VALUE = 255
MAX_CUSTOM_PER_CONTACT = 25
_LONG = ("street", "street2", "home_street", "home_street2", "work_street", "work_street2", "other_street")
TEXT_LIMITS: dict[str, int] = {
    name: 255 if name in _LONG or name == "other_street2" else 50
    for name in (
        "job_title",
        "company_name",
        "phone",
        "home_phone",
        "work_phone",
        "mobile_phone",
        "other_phone",
        *_LONG,
        "other_street2",
        "city",
        "state",
        "zip",
        "country",
        "home_city",
        "home_state",
        "home_zip",
        "work_city",
        "work_state",
        "work_zip",
        "work_country",
        "other_city",
        "other_state",
        "other_zip",
        "other_country",
    )
}
# "Valid date formats are MM/DD/YYYY, M/D/YYYY, YYYY/MM/DD, YYYY/M/D, YYYY-MM-DD, YYYY-M-D, M-D-YYYY, M-DD-YYYY."
_YEAR_FIRST = re.compile(r"^(\d{4})([/-])(\d{1,2})\2(\d{1,2})$")
_YEAR_LAST = re.compile(r"^(\d{1,2})([/-])(\d{1,2})\2(\d{4})$")


class RowRefused(ValueError):
    def __init__(self, message: str, *, correctable: bool) -> None:
        super().__init__(message)
        self.correctable = correctable


def read(item: dict[str, object], custom_fields: set[str]) -> dict[str, str | int] | None:
    """The properties of one import item that the emulator keeps, or RowRefused."""
    found: dict[str, str | int] = {}
    custom = 0
    for name, value in item.items():
        if name.startswith(CUSTOM_PREFIX):
            custom += 1
            if name[len(CUSTOM_PREFIX) :] not in custom_fields:
                raise RowRefused(f"the custom field {name[len(CUSTOM_PREFIX) :]!r} does not exist.", correctable=False)
            found[name] = _text(name, value, MAX_CUSTOM_VALUE)
        elif name in TEXT_LIMITS:
            found[name] = _text(name, value, TEXT_LIMITS[name])
        elif name == "anniversary":
            found[name] = _anniversary(value)
        elif name in ("birthday_month", "birthday_day"):
            found[name] = _birthday_part(name, value)
    if custom > MAX_CUSTOM_PER_CONTACT:
        raise RowRefused(f"more than {MAX_CUSTOM_PER_CONTACT} custom fields.", correctable=False)
    if ("birthday_month" in found) != ("birthday_day" in found):
        raise RowRefused("birthday_month and birthday_day go together.", correctable=True)
    return found or None


def _text(name: str, value: object, limit: int) -> str:
    if not isinstance(value, str):
        raise RowRefused(f"{name} must be text.", correctable=False)
    if len(value) > limit:
        raise RowRefused(f"{name} is longer than {limit} characters.", correctable=False)
    return value


def _birthday_part(name: str, value: object) -> int:
    highest = 12 if name == "birthday_month" else 31
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= highest:
        raise RowRefused(f"{name} must be a whole number from 1 to {highest}.", correctable=True)
    return value


def _anniversary(value: object) -> str:
    """An empty text clears it (as for any property); else one of the documented formats, kept as YYYY-MM-DD."""
    if value == "":
        return ""
    text = value if isinstance(value, str) else ""
    year_first, year_last = _YEAR_FIRST.match(text), _YEAR_LAST.match(text)
    try:
        if year_first:
            return date(int(year_first[1]), int(year_first[3]), int(year_first[4])).isoformat()
        if year_last:
            return date(int(year_last[4]), int(year_last[1]), int(year_last[3])).isoformat()
    except ValueError:
        pass
    raise RowRefused(f"anniversary {value!r} is not a date in a documented format.", correctable=True)
