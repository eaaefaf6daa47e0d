"""What Constant Contact refuses as sent (400, with its array of errors), for the operations the emulator serves:
parameters and bodies against the spec's types, enums, formats and limits, and the rules its text states
(mutually exclusive export filters, the documented export fields). A check raises Refusal; v3.py answers it.

The documented export fields are the list on the developer guide's "Export contacts" page plus the opt-in and
opt-out fields the spec's ContactsExport text names. `contact_id` and `permission_to_send` are not documented:
the emulator refuses them in its strict mode (the default). Its permissive mode answers as the most lenient
service plausibly would: any field is accepted, those two are filled in, and unknown ones come back empty.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

DOCUMENTED_EXPORT_FIELDS = (
    "first_name",
    "last_name",
    "email_address",
    "email_lists",
    "phone_number",
    "company_name",
    "job_title",
    "social_profiles",
    "website",
    "tag",
    "notes",
    "street",
    "city",
    "state",
    "zip",
    "country",
    "anniversary",
    "birthday",
    "birthday_day",
    "birthday_month",
    "source_name",
    "created_at",
    "updated_at",
    "email_optin",
    "email_permission",
    # "You must export email_address to successfully export ..." (spec, ContactsExport.fields):
    "email_optin_source",
    "email_optin_date",
    "email_optout_source",
    "email_optout_date",
    "email_optout_reason",
)
OPT_FIELDS = (
    "email_optin_source",
    "email_optin_date",
    "email_optout_source",
    "email_optout_date",
    "email_optout_reason",
)
# Fields a lenient service might still answer: the emulator's permissive mode fills these in.
UNDOCUMENTED_EXPORT_FIELDS = ("contact_id", "permission_to_send")
EXPORT_STATUSES = ("active", "unsubscribed", "removed")


class Refusal(Exception):
    def __init__(self, message: str, key: str = "api.bad.request") -> None:
        super().__init__(message)
        self.message = message
        self.key = key


def uuid(value: object, name: str) -> str:
    if not isinstance(value, str) or not UUID.match(value):
        raise Refusal(f"{name} must be a UUID such as 04fe9a97-a579-43c5-bb1a-58ed29bf0a6a.")
    return value


def uuids(value: object, name: str, *, low: int, high: int) -> list[str]:
    if not isinstance(value, list) or not low <= len(value) <= high:
        raise Refusal(f"{name} must be an array of {low} to {high} ids.")
    return [uuid(item, f"{name} item") for item in value]


def one_of(value: object, allowed: tuple[str, ...], name: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise Refusal(f"{name} must be one of: {', '.join(allowed)}.")
    return value


def boolean(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise Refusal(f"{name} must be true or false.")
    return value


def text(value: object, name: str, *, most: int | None = None, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise Refusal(f"{name} must be a text value." if not required else f"{name} is required.")
    if most is not None and len(value) > most:
        raise Refusal(f"{name} must be at most {most} characters.")
    return value


def query_boolean(raw: str | None, name: str) -> bool | None:
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise Refusal(f"{name} must be true or false.")
    return raw == "true"


def query_enum(raw: str | None, allowed: tuple[str, ...], name: str) -> str | None:
    if raw is None:
        return None
    return one_of(raw, allowed, name)


def query_csv_enum(raw: str | None, allowed: tuple[str, ...], name: str) -> list[str]:
    if raw is None:
        return []
    values = raw.split(",")
    for value in values:
        one_of(value, allowed, name)
    return values


def query_datetime(raw: str | None, name: str) -> datetime | None:
    if raw is None:
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise Refusal(f"{name} must be an ISO-8601 date and time, e.g. 2025-01-31T09:30:00Z.") from None


def body_object(body: Any, name: str = "The body") -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Refusal(f"{name} must be a JSON object.")
    return body


def contact_export(body: Any, *, strict: bool) -> tuple[list[str], list[str], str | None]:
    """(list ids, fields, status) of a valid ContactsExport body."""
    body = body_object(body)
    filters = [key for key in ("contact_ids", "list_ids", "tag_ids", "segment_id", "new_subscriber") if key in body]
    exclusive = [key for key in filters if key not in ("list_ids", "new_subscriber")]
    if len(exclusive) > 1 or (exclusive and len(filters) > 1):
        raise Refusal(f"{' and '.join(filters)} cannot be used together.")
    if "status" in body and any(key not in ("contact_ids", "list_ids") for key in filters):
        raise Refusal("status can be used only with contact_ids or list_ids.")
    if "exclude" in body and "list_ids" not in body and "new_subscriber" not in body:
        raise Refusal("exclude can be used only with list_ids or new_subscriber.")
    list_ids = uuids(body["list_ids"], "list_ids", low=1, high=50) if "list_ids" in body else []
    if "contact_ids" in body:
        uuids(body["contact_ids"], "contact_ids", low=1, high=500)
    if "tag_ids" in body:
        uuids(body["tag_ids"], "tag_ids", low=1, high=50)
    if "segment_id" in body and (not isinstance(body["segment_id"], int) or isinstance(body["segment_id"], bool)):
        raise Refusal("segment_id must be an integer.")
    if "new_subscriber" in body:
        boolean(body["new_subscriber"], "new_subscriber")
    if "exclude" in body:
        exclude = body_object(body["exclude"], "exclude")
        if "contact_ids" in exclude:
            uuids(exclude["contact_ids"], "exclude.contact_ids", low=0, high=500)
    status = one_of(body["status"], EXPORT_STATUSES, "status") if "status" in body else None
    fields = body.get("fields", list(DOCUMENTED_EXPORT_FIELDS[:4]))
    if not isinstance(fields, list) or not fields or not all(isinstance(field, str) for field in fields):
        raise Refusal("fields must be an array of field names.")
    if strict:
        unknown = [field for field in fields if field not in DOCUMENTED_EXPORT_FIELDS]
        if unknown:
            raise Refusal(f"{unknown[0]!r} is not a field that can be exported.")
    if any(field in OPT_FIELDS for field in fields) and "email_address" not in fields:
        raise Refusal("Export email_address to export the opt-in and opt-out fields.")
    return list_ids, list(fields), status
