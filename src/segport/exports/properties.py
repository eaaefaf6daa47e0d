"""The contact properties an export can fill besides email and names: what `contacts_json_import` accepts
(the spec's JsonImportContact), each with its limit, and how a profile value becomes what is sent.

A value that cannot be sent as the property needs it (a month of 13, an unreadable date) is left out of that
contact and counted; a text longer than the property allows is cut, as names are, and counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

CUSTOM_PREFIX = "cf:"
MAX_CUSTOM_VALUE = 255
# Custom field names are built from labels "by replacing blanks with underscores" (spec, CustomField.name).
CUSTOM_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]{0,49}$")
MAX_CUSTOM_PER_CONTACT = 25  # "up to 25 custom fields per contact" (spec, JsonImportContact)
MAX_CUSTOM_PER_ACCOUNT = 100  # "up to 100 custom_fields in their account" (spec, POST /contact_custom_fields)


@dataclass(frozen=True)
class Property:
    label: str
    max_length: int = 50
    kind: str = "text"  # text | month | day | date


PROPERTIES: dict[str, Property] = {
    "job_title": Property("Job title"),
    "company_name": Property("Company"),
    "phone": Property("Phone"),
    "home_phone": Property("Home phone"),
    "work_phone": Property("Work phone"),
    "mobile_phone": Property("Mobile phone"),
    "other_phone": Property("Other phone"),
    "birthday_month": Property("Birthday month (1-12, or a date)", kind="month"),
    "birthday_day": Property("Birthday day (1-31, or a date)", kind="day"),
    "anniversary": Property("Anniversary (a date)", kind="date"),
    "street": Property("Street", 255),
    "street2": Property("Street, line 2", 255),
    "city": Property("City"),
    "state": Property("State or province"),
    "zip": Property("Zip or postal code"),
    "country": Property("Country"),
    "home_street": Property("Home street", 255),
    "home_street2": Property("Home street, line 2", 255),
    "home_city": Property("Home city"),
    "home_state": Property("Home state or province"),
    "home_zip": Property("Home zip or postal code"),
    "work_street": Property("Work street", 255),
    "work_street2": Property("Work street, line 2", 255),
    "work_city": Property("Work city"),
    "work_state": Property("Work state or province"),
    "work_zip": Property("Work zip or postal code"),
    "work_country": Property("Work country"),
    "other_street": Property("Other street", 255),
    "other_street2": Property("Other street, line 2", 255),
    "other_city": Property("Other city"),
    "other_state": Property("Other state or province"),
    "other_zip": Property("Other zip or postal code"),
    "other_country": Property("Other country"),
}
# Not offered: the home address's country, which the spec names "home country" (with a blank), so the key the
# service reads is uncertain; a mapping to it could be dropped without a word.
# Constant Contact needs both birthday parts or neither ("birthday_month is required if you use birthday_day").
PAIRED = ("birthday_month", "birthday_day")
ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


class NotSendable(ValueError):
    """A profile value that cannot be sent as the property needs it."""


def check_target(target: str) -> str:
    """The target as stored, or ValueError naming what a target can be."""
    if target.startswith(CUSTOM_PREFIX):
        name = target[len(CUSTOM_PREFIX) :]
        if not CUSTOM_NAME.match(name):
            raise ValueError(
                f"{name!r} is not a custom field name (letters, digits, '_' and '-', at most 50 characters)."
            )
        return target
    if target not in PROPERTIES:
        raise ValueError(f"{target!r} is not a contact property an import can fill.")
    return target


def convert(target: str, raw: str) -> tuple[str | int, bool, bool]:
    """What is sent for a non-empty profile value (as its text), whether it was cut to the limit, and whether
    control characters were taken out. Raises NotSendable when the value cannot be the property."""
    if target.startswith(CUSTOM_PREFIX):
        return _cut(raw, MAX_CUSTOM_VALUE)
    prop = PROPERTIES[target]
    if prop.kind == "text":
        return _cut(raw, prop.max_length)
    value = raw.strip()
    parsed = _date(value)
    if prop.kind == "date":
        if parsed is None:
            raise NotSendable(f"{value!r} is not a date (YYYY-MM-DD)")
        return parsed.isoformat(), False, False
    number = (parsed.month if prop.kind == "month" else parsed.day) if parsed is not None else _integer(value)
    highest = 12 if prop.kind == "month" else 31
    if number is None or not 1 <= number <= highest:
        raise NotSendable(f"{value!r} is not a {'month (1-12)' if prop.kind == 'month' else 'day (1-31)'} or a date")
    return number, False, False


def _cut(raw: str, limit: int) -> tuple[str, bool, bool]:
    # Control characters would be refused or shown as boxes: taken out, and counted, as in names (a line break
    # at the end too). isprintable() runs in C: most values have nothing to take out.
    cleaned = not raw.isprintable()
    value = ("".join(char if char.isprintable() else " " for char in raw) if cleaned else raw).strip()
    return (value[:limit].rstrip(), True, cleaned) if len(value) > limit else (value, False, cleaned)


def _date(value: str) -> date | None:
    found = ISO_DATE.match(value)
    if found is None:
        return None
    try:
        return date(int(found.group(1)), int(found.group(2)), int(found.group(3)))
    except ValueError:
        return None


def _integer(value: str) -> int | None:
    text = value[:-2] if value.endswith(".0") else value  # a number column read as text
    return int(text) if text.isascii() and text.isdigit() else None
