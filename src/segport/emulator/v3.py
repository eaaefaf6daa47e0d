"""Handlers of the V3 endpoints segport uses, with the spec's request rules and response shapes."""

from __future__ import annotations

import base64
import contextlib
import csv
import email.parser
import email.policy
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import orjson

from segport.emulator import checks
from segport.emulator.messages import Request, Response, api_error, json_response, single_error
from segport.emulator.world import Contact, ImportRow

if TYPE_CHECKING:
    from segport.emulator.core import Emulator

MAX_BODY_BYTES = 4_000_000  # "only imports the first 4 MB and drops the remaining data"
MAX_JSON_CONTACTS = 40_000
MAX_CSV_LINES = 40_000  # including the header line
SALVAGED_LISTS = re.compile(r'"list_ids"\s*:\s*\[')
SALVAGED_DATA = re.compile(r'"import_data"\s*:\s*\[')
NAMED_PROPERTIES = ("email", "first_name", "last_name")  # the rest of an import item: contact_properties.py
UUID_SHAPE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

Handler = Callable[["Emulator", Request, dict[str, str]], Response]
ROUTES: list[tuple[str, re.Pattern[str], str, Handler]] = []
# The OAuth scope each operation's `security` declares in the spec; a token without it gets a 403.
SCOPES: dict[str, str] = {}


def route(method: str, pattern: str, operation: str, scope: str = "contact_data") -> Callable[[Handler], Handler]:
    compiled = re.compile("^/v3" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$")

    def register(handler: Handler) -> Handler:
        ROUTES.append((method, compiled, operation, handler))
        SCOPES[operation] = scope
        return handler

    return register


def match(method: str, path: str) -> tuple[str, Handler, dict[str, str]] | None:
    """(operationId, handler, path parameters) for a request, or None."""
    for route_method, pattern, operation, handler in ROUTES:
        found = pattern.match(path)
        if found and route_method == method:
            return operation, handler, found.groupdict()
    return None


def path_exists(path: str) -> bool:
    return any(pattern.match(path) for _, pattern, _, _ in ROUTES)


BadBody = checks.Refusal  # a request Constant Contact refuses as sent: 400 with the error array


def _json_body(request: Request) -> Any:
    try:
        return orjson.loads(request.body)
    except orjson.JSONDecodeError:
        raise BadBody("The request body is not valid JSON.") from None


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.param(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise BadBody(f"{name} must be a whole number from {low} to {high}.")
    return int(raw)


def _cursor(request: Request) -> int:
    raw = request.param("cursor")
    if not raw:
        return 0
    try:
        return int(base64.urlsafe_b64decode(raw.encode() + b"==").decode())
    except ValueError:
        raise BadBody("The cursor is not valid.") from None


def _next_link(path: str, request: Request, offset: int) -> dict[str, object]:
    params = {key: values[0] for key, values in request.query.items() if key != "cursor"}
    params["cursor"] = base64.urlsafe_b64encode(str(offset).encode()).decode().rstrip("=")
    return {"next": {"href": f"{path}?{urlencode(params)}"}}


# -- account and lists -----------------------------------------------------------------------------------


@route("GET", "/account/summary", "getAccountById", scope="account_read")
def account_summary(emulator: Emulator, request: Request, _: dict[str, str]) -> Response:
    checks.query_csv_enum(request.param("extra_fields"), ("physical_address", "company_logo"), "extra_fields")
    settings = emulator.settings
    return json_response(
        200,
        {
            "encoded_account_id": "a07e1lxqbgh8",
            "organization_name": settings.account_name,
            "contact_email": settings.account_email,
            "first_name": "Emulated",
            "last_name": "Owner",
            "country_code": "CA",
            "state_code": "ON",
            "time_zone_id": "America/Toronto",
            "website": "https://example.com",
        },
    )


@route("GET", "/contact_lists", "getLists")
def get_lists(emulator: Emulator, request: Request, _: dict[str, str]) -> Response:
    limit = _int_param(request, "limit", 50, 1, 1000)
    offset = _cursor(request)
    checks.query_boolean(request.param("include_count"), "include_count")
    checks.query_enum(request.param("include_membership_count"), ("all", "active"), "include_membership_count")
    checks.query_enum(request.param("status"), ("all", "active", "deleted"), "status")
    checks.query_enum(request.param("channel_type"), ("email", "sms"), "channel_type")
    checks.query_boolean(request.param("include_sms_membership_count"), "include_sms_membership_count")
    name = request.param("name")
    lists = [record for record in emulator.world.lists.values() if name is None or record.name == name]
    with_count = request.param("include_membership_count") in ("all", "active")
    page = lists[offset : offset + limit]
    body: dict[str, object] = {"lists": [record.public(with_count=with_count) for record in page]}
    if request.param("include_count") == "true":
        body["lists_count"] = len(lists)
    if offset + limit < len(lists):
        body["_links"] = _next_link("/v3/contact_lists", request, offset + limit)
    return json_response(200, body)


@route("POST", "/contact_lists", "createList")
def create_list(emulator: Emulator, request: Request, _: dict[str, str]) -> Response:
    body = checks.body_object(_json_body(request))
    name = checks.text(body.get("name"), "name", most=255, required=True)
    assert name is not None
    if "favorite" in body:
        checks.boolean(body["favorite"], "favorite")
    checks.text(body.get("description"), "description", most=255)
    if emulator.world.list_named(name) is not None:
        return api_error(409, "contact_lists.api.conflict", f"The list name '{name}' is already in use.")
    if len(emulator.world.lists) >= emulator.settings.max_lists:
        return api_error(
            400,
            "contact_lists.api.limit.exceeded",
            f"An account can have at most {emulator.settings.max_lists} lists.",
        )
    description = body.get("description") if isinstance(body.get("description"), str) else None
    record = emulator.world.create_list(name, favorite=bool(body.get("favorite", False)), description=description)
    return json_response(201, record.public(post=True))


@route("GET", "/contact_lists/{list_id}", "getList")
def get_list(emulator: Emulator, request: Request, params: dict[str, str]) -> Response:
    checks.uuid(params["list_id"], "list_id")
    checks.query_enum(request.param("include_membership_count"), ("all", "active"), "include_membership_count")
    record = emulator.world.lists.get(params["list_id"])
    if record is None:
        return api_error(404, "contact_lists.api.not.found", "The list_id provided does not exist.")
    with_count = request.param("include_membership_count") in ("all", "active")
    return json_response(200, record.public(with_count=with_count))


@route("DELETE", "/contact_lists/{list_id}", "deleteListActivity")
def delete_list(emulator: Emulator, request: Request, params: dict[str, str]) -> Response:
    """Deleting a list is an activity; contacts stay, only their membership of the list goes."""
    world = emulator.world
    list_id = checks.uuid(params["list_id"], "list_id")
    if list_id not in world.lists:
        return api_error(404, "contact_lists.api.not.found", "The list_id provided does not exist.")
    full = _queue_full(emulator)
    if full is not None:
        return full
    _activity, snapshot = world.queue_activity(
        "delete_list",
        len(world.lists[list_id].members),
        {"list_id": list_id},
        forced_end=emulator.activity_fault(),
    )
    for key in ("status", "started_at", "completed_at", "source_file_name"):
        snapshot.pop(key, None)
    return json_response(202, snapshot)


# -- bulk activities -------------------------------------------------------------------------------------


def _check_target_lists(emulator: Emulator, list_ids: object, status_if_missing: int) -> Response | list[str]:
    if not isinstance(list_ids, list) or not 1 <= len(list_ids) <= 50:
        return api_error(400, "activities.api.bad.request", "list_ids must hold 1 to 50 list ids.")
    checks.uuids(list_ids, "list_ids", low=1, high=50)
    unknown = [item for item in list_ids if not isinstance(item, str) or item not in emulator.world.lists]
    if unknown:
        return api_error(status_if_missing, "activities.api.list.not.found", f"Unknown list_id: {unknown[0]}.")
    return [str(item) for item in list_ids]


def _queue_full(emulator: Emulator) -> Response | None:
    if emulator.world.queued_count() >= emulator.settings.max_queued_activities:
        return api_error(
            429,
            "too_many_requests",
            "Too many requests. You exceeded 1,000 queued activities for this user account.",
        )
    return None


def _salvage_json_import(body: bytes) -> dict[str, Any]:
    """What survives of a JSON import body cut at 4 MB: the import_data items that arrived whole. A body whose
    import_data is not an array gets none (and so the 400 of a body without import_data)."""
    text = body.decode("utf-8", "ignore")
    result: dict[str, Any] = {}
    decoder = json.JSONDecoder()
    lists_at = SALVAGED_LISTS.search(text)
    if lists_at is not None:
        with contextlib.suppress(ValueError):
            result["list_ids"] = decoder.raw_decode(text, lists_at.end() - 1)[0]
    data_at = SALVAGED_DATA.search(text)
    if data_at is None:
        return result
    items: list[Any] = []
    position = data_at.end()
    while True:
        while position < len(text) and text[position] in " \n\r\t,":
            position += 1
        try:
            item, position = decoder.raw_decode(text, position)
        except ValueError:
            break
        items.append(item)
    result["import_data"] = items
    return result


@route("POST", "/activities/contacts_json_import", "bulkImportContactsJSON")
def json_import(emulator: Emulator, request: Request, _: dict[str, str]) -> Response:
    truncated = len(request.body) > MAX_BODY_BYTES
    body = _salvage_json_import(request.body[:MAX_BODY_BYTES]) if truncated else _json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("import_data"), list):
        return api_error(400, "activities.api.bad.request", "import_data is required and must be an array.")
    if "sms_permission_to_send" in body:
        checks.one_of(body["sms_permission_to_send"], ("not_set", "explicit"), "sms_permission_to_send")
    targets = _check_target_lists(emulator, body.get("list_ids"), 400)
    if isinstance(targets, Response):
        return targets
    items = body["import_data"]
    if not items:
        return api_error(400, "activities.api.bad.request", "import_data must hold at least one contact.")
    if len(items) > MAX_JSON_CONTACTS:
        return api_error(
            400,
            "activities.api.bad.request",
            f"The total number of contacts in the JSON payload cannot exceed {MAX_JSON_CONTACTS:,}.",
        )
    rows: list[ImportRow] = []
    for number, item in enumerate(items, start=1):
        item = item if isinstance(item, dict) else {}
        others = {key: value for key, value in item.items() if key not in NAMED_PROPERTIES} or None
        email, first, last = (_text(item.get(key)) for key in NAMED_PROPERTIES)
        rows.append((number, email, first, last, others))
    return _queue_import(emulator, rows, targets, None)


@route("POST", "/activities/contacts_file_import", "contactsCSVImport")
def file_import(emulator: Emulator, request: Request, _: dict[str, str]) -> Response:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return api_error(
            415,
            "activities.api.unsupported.media.type",
            "This endpoint requires that Content-Type be unspecified.",
        )
    parts = _multipart(content_type, request.body)
    upload = parts.get("file")
    if upload is None:
        return api_error(400, "activities.api.bad.request", "file is required.")
    file_name, content = upload
    if not (file_name or "").lower().endswith(".csv"):
        return api_error(
            415,
            "activities.api.unsupported.media.type",
            "Wrong file format, upload file must be of type .csv",
        )
    raw_lists = parts.get("list_ids", (None, b""))[1].decode("utf-8", "replace")
    if "sms_permission_to_send" in parts:
        permission = parts["sms_permission_to_send"][1].decode("utf-8", "replace")
        checks.one_of(permission, ("not_set", "explicit"), "sms_permission_to_send")
    targets = _check_target_lists(emulator, [item.strip() for item in raw_lists.split(",") if item.strip()], 404)
    if isinstance(targets, Response):
        return targets
    errors: list[str] = []
    if len(content) > MAX_BODY_BYTES:
        content = content[:MAX_BODY_BYTES].rsplit(b"\n", 1)[0]
        errors.append("The file is larger than 4 MB; the data beyond 4 MB was not imported.")
    lines = content.decode("utf-8-sig", "replace").splitlines()
    if len(lines) > MAX_CSV_LINES:
        errors.append(f"The file has more than {MAX_CSV_LINES:,} lines; the lines after that were not imported.")
        lines = lines[:MAX_CSV_LINES]
    reader = csv.DictReader(lines)
    columns = {name.strip().lower() for name in (reader.fieldnames or [])}
    if "email" not in columns and "sms_number" not in columns:
        return api_error(400, "activities.api.bad.request", "The file needs an email or sms_number column.")
    rows: list[ImportRow] = []
    for number, record in enumerate(reader, start=2):
        normal = {(key or "").strip().lower(): value for key, value in record.items()}
        rows.append(
            (number, normal.get("email"), normal.get("first_name") or None, normal.get("last_name") or None, None)
        )
    return _queue_import(emulator, rows, targets, file_name, errors)


def _queue_import(
    emulator: Emulator,
    rows: list[ImportRow],
    targets: list[str],
    file_name: str | None,
    errors: list[str] | None = None,
) -> Response:
    full = _queue_full(emulator)
    if full is not None:
        return full
    world = emulator.world
    record, snapshot = world.queue_activity(
        "import",
        len(rows),
        {"rows": rows, "list_ids": targets},
        forced_end=emulator.activity_fault(),
        source_file_name=file_name,
        list_ids=targets,
    )
    if errors:
        record.errors.extend(errors)
        snapshot["activity_errors"] = list(errors)
    return json_response(201, snapshot)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    parts: dict[str, tuple[str | None, bytes]] = {}
    if not message.is_multipart():
        return parts
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            payload = part.get_payload(decode=True)
            parts[name] = (part.get_filename(), payload if isinstance(payload, bytes) else b"")
    return parts


@route("POST", "/activities/remove_list_memberships", "postListRemoveContact")
def remove_memberships(emulator: Emulator, request: Request, _: dict[str, str]) -> Response:
    body = _json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("source"), dict):
        return api_error(400, "activities.api.bad.request", "source and list_ids are required.")
    source = body["source"]
    chosen = [
        key
        for key in ("contact_ids", "list_ids", "all_active_contacts", "tag_ids", "engagement_level")
        if source.get(key)
    ]
    if len(chosen) != 1 or chosen[0] not in ("contact_ids", "list_ids"):
        # segport sends contact_ids or list_ids; the other sources are outside what the emulator models.
        return api_error(
            400,
            "activities.api.bad.request",
            "Send exactly one source: contact_ids or list_ids (the emulator models those).",
        )
    targets = _check_target_lists(emulator, body.get("list_ids"), 404)
    if isinstance(targets, Response):
        return targets
    world = emulator.world
    if chosen[0] == "list_ids":
        sources = _check_target_lists(emulator, source["list_ids"], 404)
        if isinstance(sources, Response):
            return sources
        ids = [world.contacts[key].contact_id for list_id in sources for key in world.lists[list_id].members]
    else:
        ids = checks.uuids(source["contact_ids"], "source.contact_ids", low=1, high=500)
    full = _queue_full(emulator)
    if full is not None:
        return full
    _activity, snapshot = world.queue_activity(
        "remove",
        len(ids),
        {"contact_ids": ids, "list_ids": targets},
        forced_end=emulator.activity_fault(),
        list_ids=targets,
    )
    return json_response(201, snapshot)


@route("GET", "/activities", "getActivityStatusCollection")
def list_activities(emulator: Emulator, request: Request, _: dict[str, str]) -> Response:
    limit = _int_param(request, "limit", 50, 1, 500)
    offset = _cursor(request)
    state = checks.query_enum(
        request.param("state"), ("processing", "completed", "cancelled", "failed", "timed_out"), "state"
    )
    now = emulator.clock.now()
    newest_first = [
        record for record in reversed(emulator.world.activities.values()) if state is None or record.state == state
    ]
    page = newest_first[offset : offset + limit]
    body: dict[str, object] = {"activities": [record.public(now) for record in page]}
    if offset + limit < len(newest_first):
        body["_links"] = _next_link("/v3/activities", request, offset + limit)
    return json_response(200, body)


@route("GET", "/activities/{activity_id}", "getActivity")
def get_activity(emulator: Emulator, request: Request, params: dict[str, str]) -> Response:
    record = emulator.world.activities.get(params["activity_id"])
    if record is None:
        return api_error(404, "activities.api.not.found", "Resource not found for the activity_id provided.")
    return json_response(200, record.public(emulator.clock.now()))


@route("POST", "/activities/contact_exports", "postContactsExport")
def contact_exports(emulator: Emulator, request: Request, _: dict[str, str]) -> Response:
    list_ids, fields, status = checks.contact_export(_json_body(request), strict=emulator.settings.strict_exports)
    if list_ids:
        targets = _check_target_lists(emulator, list_ids, 404)
        if isinstance(targets, Response):
            return targets
        list_ids = targets
    full = _queue_full(emulator)
    if full is not None:
        return full
    world = emulator.world
    size = sum(len(world.lists[item].members) for item in list_ids) if list_ids else len(world.contacts)
    _activity, snapshot = world.queue_activity(
        "export",
        size,
        {"list_ids": list_ids, "fields": fields, "status": status},
        forced_end=emulator.activity_fault(),
    )
    return json_response(201, snapshot)


@route("GET", "/contact_exports/{file_export_id}", "getContactsExport")
def get_contact_export(emulator: Emulator, request: Request, params: dict[str, str]) -> Response:
    record = emulator.world.activities.get(params["file_export_id"])
    if record is None or record.kind != "export" or record.outcome is None or record.outcome.results is None:
        return api_error(404, "activities.api.not.found", "No finished export has this id.")
    return Response(200, record.outcome.results, {"content-type": "text/csv"})


def _within(contact: Contact, moments: dict[str, datetime | None]) -> bool:
    """Whether a contact passes the date filters of `GET /contacts` (after: later than; before: earlier than). A
    contact that never opted out passes no opt-out filter."""
    for name, moment in moments.items():
        if moment is None:
            continue
        if moment.tzinfo is None:  # a time without a zone is read as UTC
            moment = moment.replace(tzinfo=UTC)
        field, side = name.rsplit("_", 1)
        value = {"updated": contact.updated_at, "created": contact.created_at, "optout": contact.opt_out_date}[field]
        if value is None or (value <= moment if side == "after" else value >= moment):
            return False
    return True


@route("GET", "/contacts", "getContacts")
def get_contacts(emulator: Emulator, request: Request, _: dict[str, str]) -> Response:
    limit = _int_param(request, "limit", 50, 1, 500)
    offset = _cursor(request)
    world = emulator.world
    wanted_email = (request.param("email") or "").strip().lower()
    lists_param = [item for item in (request.param("lists") or "").split(",") if item]
    if len(lists_param) > 25:
        raise BadBody("lists takes at most 25 list ids.")
    for list_id in lists_param:
        checks.uuid(list_id, "lists item")
    statuses = set(
        checks.query_csv_enum(
            request.param("status"),
            ("all", "active", "deleted", "not_set", "pending_confirmation", "temp_hold", "unsubscribed"),
            "status",
        )
    )
    filters = ("updated_after", "updated_before", "created_after", "created_before", "optout_after", "optout_before")
    moments = {name: checks.query_datetime(request.param(name), name) for name in filters}
    checks.query_boolean(request.param("include_count"), "include_count")
    checks.query_csv_enum(
        request.param("sms_status"),
        ("all", "explicit", "unsubscribed", "pending_confirmation", "not_set"),
        "sms_status",
    )
    tags = request.param("tags")
    for tag in tags.split(",") if tags is not None else []:
        checks.uuid(tag, "tags item")
    included = checks.query_csv_enum(
        request.param("include"),
        ("custom_fields", "list_memberships", "phone_numbers", "street_addresses", "taggings", "notes"),
        "include",
    )
    include_lists = "list_memberships" in included
    if wanted_email:
        found = world.contacts.get(wanted_email)
        candidates = [found] if found is not None else []
    elif lists_param:
        keys: dict[str, None] = {}
        for list_id in lists_param:
            if list_id in world.lists:
                keys.update(world.lists[list_id].members)
        candidates = [world.contacts[key] for key in keys]
    else:
        candidates = list(world.contacts.values())
    # Without `status`, every contact that is not deleted (the spec's documented default): the emulator deletes none.
    if statuses and "all" not in statuses:
        candidates = [
            contact
            for contact in candidates
            if ("active" in statuses and contact.permission != "unsubscribed") or contact.permission in statuses
        ]
    if any(moment is not None for moment in moments.values()):  # not a call per contact on every listing
        candidates = [contact for contact in candidates if _within(contact, moments)]
    page = candidates[offset : offset + limit]
    body: dict[str, object] = {"contacts": [contact.public(include_lists=include_lists) for contact in page]}
    if request.param("include_count") == "true":
        body["contacts_count"] = len(candidates)
    if offset + limit < len(candidates):
        body["_links"] = _next_link("/v3/contacts", request, offset + limit)
    return json_response(200, body)


def forbidden(scope: str) -> Response:
    return api_error(403, "forbidden", f"Forbidden request: the access token lacks the {scope} scope.")


def unauthorized() -> Response:
    return single_error(401, "unauthorized", "Unauthorized", {"www-authenticate": "Bearer realm=api.cc.email"})
