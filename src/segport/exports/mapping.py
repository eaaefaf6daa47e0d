"""An export's field mapping beyond email and names: which profile field fills which contact property.

What a run sends of them is read in SQL as one text per member (`raw_extra`), kept in the sync state beside the
raw email and names: a rerun compares it in SQL and sends only the members whose mapped values changed. Only
values that are there take part in it, so mapping a field that is empty for a member does not resend them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Text, case, cast, delete, func, insert, literal, null, select

from segport.errors import InvalidInput
from segport.exports import properties
from segport.exports.properties import CUSTOM_PREFIX, PAIRED, NotSendable
from segport.profiles.source import ProfileSource
from segport.store.tables import export_fields

SEPARATOR = "\x1f"  # between one property's value and the next in raw_extra
# Filled by the export's own settings (email, first and last name fields), never by a mapping.
OWN_SETTINGS = ("email", "email_address", "first_name", "last_name")


@dataclass(frozen=True)
class FieldMapping:
    source_field: str
    target: str  # a key of properties.PROPERTIES, or cf:<custom field name>
    send_empty: bool = False

    @property
    def custom_name(self) -> str | None:
        return self.target[len(CUSTOM_PREFIX) :] if self.target.startswith(CUSTOM_PREFIX) else None


def parse(spec: str, send_empty: Iterable[str] = ()) -> FieldMapping:
    """`PROFILE_FIELD=PROPERTY` (the CLI's --field), e.g. `title=job_title` or `tier=cf:loyalty_tier`."""
    source, separator, target = spec.rpartition("=")
    if not separator or not source.strip() or not target.strip():
        raise InvalidInput(
            f"{spec!r} is not a field mapping.",
            hint="Write PROFILE_FIELD=PROPERTY, e.g. title=job_title, or tier=cf:loyalty_tier for a custom field.",
            field="fields",
        )
    target = target.strip()
    return FieldMapping(source.strip(), target, target in set(send_empty))


def check(source: ProfileSource, mappings: Sequence[FieldMapping]) -> list[FieldMapping]:
    """The mappings, refused with the fix when a profile field or property is unknown, a property is mapped
    twice, or a contact would get more custom fields than Constant Contact takes."""
    names = [field.name for field in source.fields]
    seen: set[str] = set()
    for mapping in mappings:
        if mapping.target in OWN_SETTINGS:
            raise InvalidInput(
                f"{mapping.target!r} is set by the export's email and name fields, not by a mapping.",
                hint="The export's email, first name and last name fields set those.",
                field="fields",
            )
        try:
            properties.check_target(mapping.target)
        except ValueError as error:
            raise InvalidInput(
                str(error), hint=f"Properties: {', '.join(properties.PROPERTIES)}; or cf:NAME for a custom field."
            ) from None
        if source.field(mapping.source_field) is None:
            raise InvalidInput(
                f"The field {mapping.source_field!r} (mapped to {mapping.target}) is not a profile field.",
                hint=f"The profile fields are: {', '.join(names)}.",
            )
        if mapping.target in seen:
            raise InvalidInput(
                f"The property {mapping.target} is mapped twice.", hint="Map each property from one field."
            )
        seen.add(mapping.target)
    if (PAIRED[0] in seen) != (PAIRED[1] in seen):
        raise InvalidInput(
            "Constant Contact takes a birthday's month only with its day.",
            hint="Map both birthday_month and birthday_day (one date field can fill both).",
        )
    custom = [mapping for mapping in mappings if mapping.custom_name]
    if len(custom) > properties.MAX_CUSTOM_PER_CONTACT:
        raise InvalidInput(
            f"{len(custom)} custom fields are mapped; Constant Contact takes {properties.MAX_CUSTOM_PER_CONTACT} "
            "per contact in an import.",
            hint="Map fewer custom fields.",
        )
    return list(mappings)


def describe_all(mappings: Sequence[FieldMapping]) -> list[str]:
    """`field=property` each (with `, even empty` when empty values are sent): for the audit trail and `show`."""
    return [f"{item.source_field}={item.target}{' (even empty)' if item.send_empty else ''}" for item in mappings]


def load_all(db: Connection, export_ids: Sequence[int]) -> dict[int, list[FieldMapping]]:
    table = export_fields.c
    found: dict[int, list[FieldMapping]] = {}
    for export_id, source, target, send_empty in db.execute(
        select(table.export_id, table.source_field, table.target, table.send_empty)
        .where(table.export_id.in_(list(export_ids)))
        .order_by(table.export_id, table.position)
    ):
        found.setdefault(export_id, []).append(FieldMapping(source, target, bool(send_empty)))
    return found


def save(db: Connection, export_id: int, mappings: Sequence[FieldMapping]) -> None:
    db.execute(delete(export_fields).where(export_fields.c.export_id == export_id))
    if mappings:
        db.execute(
            insert(export_fields),
            [
                {
                    "export_id": export_id,
                    "target": mapping.target,
                    "position": position,
                    "source_field": mapping.source_field,
                    "send_empty": mapping.send_empty,
                }
                for position, mapping in enumerate(mappings)
            ],
        )


def raw_extra(source: ProfileSource, mappings: Sequence[FieldMapping]) -> Any:
    """One text of the mapped values that are there (`target=value` each, separated by SEPARATOR), NULL when none
    is: what the sync state keeps and the next run compares. NULL without mappings, as in every sync row written
    before mappings existed. A SEPARATOR inside a value becomes a blank, so a value cannot pose as another."""
    if not mappings:
        return null()
    joined: Any = literal("")
    for item in mappings:
        value = func.replace(cast(source.table.c[item.source_field], Text), SEPARATOR, " ")
        joined = joined + case((value.is_(None), literal("")), else_=literal(f"{item.target}=") + value + SEPARATOR)
    return func.nullif(joined, literal(""))


def parse_raw_extra(text: str | None) -> dict[str, str]:
    """The values raw_extra holds, by target."""
    found: dict[str, str] = {}
    for part in (text or "").split(SEPARATOR):
        target, separator, value = part.partition("=")
        if separator:
            found[target] = value
    return found


@dataclass
class Converted:
    properties: dict[str, str | int]
    cut: int  # values cut to their property's limit
    left_out: int  # values that could not be sent as their property needs
    cleaned: int  # values that held control characters, taken out


def convert(mappings: Sequence[FieldMapping], raw: str | None) -> Converted:
    """The contact properties to send for one member, from the raw_extra its query read."""
    values = parse_raw_extra(raw)
    sent: dict[str, str | int] = {}
    cut = left_out = cleaned = 0
    for item in mappings:
        value = values.get(item.target, "")
        if not value.strip():
            # The import changes only what it receives: an empty value is left out (the contact keeps what it
            # has) unless the mapping says to send it, which clears the property.
            if item.send_empty and item.target not in PAIRED:
                sent[item.target] = ""
            continue
        try:
            converted, was_cut, was_cleaned = properties.convert(item.target, value)
        except NotSendable:
            left_out += 1
            continue
        sent[item.target] = converted
        cut += was_cut
        cleaned += was_cleaned
    if (PAIRED[0] in sent) != (PAIRED[1] in sent):
        # Constant Contact takes a birthday's month only with its day: half a birthday is left out.
        for name in PAIRED:
            if sent.pop(name, None) is not None:
                left_out += 1
    return Converted(sent, cut, left_out, cleaned)
