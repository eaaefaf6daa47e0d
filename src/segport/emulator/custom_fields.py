"""Handlers of the V3 custom field endpoints: list them, create one (a text field is what segport creates).

"A user can configure up to 100 custom_fields in their account" (spec, POST /contact_custom_fields). Inference:
the 101st is refused with a 400, and a label whose name an existing field has with a 409 (the spec documents a
409 "conflicts with an existing resource" and says names are unique).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from segport.emulator import checks
from segport.emulator.messages import Request, Response, api_error, json_response
from segport.emulator.v3 import _cursor, _int_param, _json_body, _next_link, route

if TYPE_CHECKING:
    from segport.emulator.core import Emulator

MAX_CUSTOM_FIELDS = 100
MAX_CHOICES = 100


@route("GET", "/contact_custom_fields", "getCustomFields")
def get_custom_fields(emulator: Emulator, request: Request, _: dict[str, str]) -> Response:
    limit = _int_param(request, "limit", 50, 1, 100)
    offset = _cursor(request)
    fields = list(emulator.world.custom_fields.values())
    body: dict[str, object] = {"custom_fields": [record.public() for record in fields[offset : offset + limit]]}
    if offset + limit < len(fields):
        body["_links"] = _next_link("/v3/contact_custom_fields", request, offset + limit)
    return json_response(200, body)


@route("POST", "/contact_custom_fields", "postCustomFields")
def create_custom_field(emulator: Emulator, request: Request, _: dict[str, str]) -> Response:
    body = checks.body_object(_json_body(request))
    label = checks.text(body.get("label"), "label", most=50, required=True)
    kind = checks.text(body.get("type"), "type", most=20, required=True)
    assert label is not None and kind is not None
    _check_details(body)
    world = emulator.world
    if label.replace(" ", "_") in world.custom_fields:
        return api_error(409, "contacts.api.conflict", f"A custom field named {label.replace(' ', '_')} exists.")
    if len(world.custom_fields) >= MAX_CUSTOM_FIELDS:
        return api_error(
            400, "contacts.api.limit.exceeded", f"An account can have at most {MAX_CUSTOM_FIELDS} custom fields."
        )
    return json_response(201, world.create_custom_field(label, kind).public())


METADATA_KINDS = {
    "display_type": "text",
    "allow_negative": "boolean",
    "decimal_places": "whole",
    "currency_code": "text",
    "integer": "boolean",
    "display_format": "text",
}


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_details(body: dict[str, object]) -> None:
    """The request's optional parts, typed as CustomFieldRequest declares them (segport sends none of them)."""
    if "version" in body and not _whole(body["version"]):
        raise checks.Refusal("version must be a whole number.")
    metadata = body.get("metadata")
    if metadata is not None:
        for name, value in checks.body_object(metadata, "metadata").items():
            kind = METADATA_KINDS.get(name)
            right = {"text": isinstance(value, str), "boolean": isinstance(value, bool), "whole": _whole(value)}
            if kind is not None and not right[kind]:
                raise checks.Refusal(f"metadata.{name} has the wrong type.")
    choices = body.get("choices")
    if choices is None:
        return
    if not isinstance(choices, list) or len(choices) > MAX_CHOICES:
        raise checks.Refusal(f"choices must be an array of at most {MAX_CHOICES} choices.")
    for choice in choices:
        item = checks.body_object(choice, "A choice")
        checks.text(item.get("choice_label"), "choice_label", most=255)
        if "display_order" in item and not _whole(item["display_order"]):
            raise checks.Refusal("display_order must be a whole number.")
