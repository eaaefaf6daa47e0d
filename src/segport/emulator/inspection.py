"""The emulator's own API for tests and the demo, under /_emulator/ (apart from the V3 paths).

GET    /_emulator/stats                         request counts by operation and status, sizes
GET    /_emulator/requests?limit=N              the request log, newest last
GET    /_emulator/lists                         lists with member counts
POST   /_emulator/lists  {"name": ...}          create a list without OAuth
GET    /_emulator/lists/{list_id}/members       the members, with permission and names
GET    /_emulator/contacts/{email}              one contact, with list memberships
POST   /_emulator/contacts/{email}/unsubscribe  the contact opts out (and leaves every list)
GET    /_emulator/faults                        the fault schedule
POST   /_emulator/faults {"faults": [...]}      add faults (see faults.py for the syntax)
DELETE /_emulator/faults                        clear the schedule and its counters
POST   /_emulator/tokens/revoke[?grants=true]   revoke access tokens (and refresh tokens)
GET    /_emulator/unsubscribed                  the addresses of every unsubscribed contact
GET    /_emulator/blocked                       the addresses imports refuse (either way)
POST   /_emulator/blocked {"emails": [...]}     imports refuse these addresses from now on (as errors;
                                                with "correctable": true, as malformed addresses)
GET    /_emulator/activities                    every bulk activity: kind, items, state, target lists
POST   /_emulator/reset                         forget all state
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import unquote

import orjson

from segport.emulator.faults import FaultSyntaxError
from segport.emulator.messages import Request, Response, json_response

if TYPE_CHECKING:
    from segport.emulator.core import Emulator

PREFIX = "/_emulator"


def _problem(status: int, detail: str) -> Response:
    return json_response(status, {"error": detail})


def handle(emulator: Emulator, request: Request) -> Response:
    path = request.path[len(PREFIX) :].rstrip("/") or "/"
    method = request.method
    world = emulator.world
    if path == "/health":
        return json_response(200, {"status": "ok"})
    if path == "/stats" and method == "GET":
        return json_response(200, emulator.stats())
    if path == "/requests" and method == "GET":
        limit = int(request.param("limit") or 1000)
        entries = list(emulator.log)[-limit:]
        return json_response(200, {"requests": [entry.__dict__ for entry in entries]})
    if path == "/lists" and method == "GET":
        return json_response(
            200,
            {
                "lists": [
                    {"list_id": record.list_id, "name": record.name, "members": len(record.members)}
                    for record in world.lists.values()
                ]
            },
        )
    if path == "/lists" and method == "POST":
        body = _body(request)
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name:
            return _problem(400, 'Send {"name": "..."}.')
        existing = world.list_named(name)
        if existing is not None:
            return json_response(200, {"list_id": existing.list_id, "name": name})
        return json_response(201, {"list_id": emulator.create_list(name), "name": name})
    members = re.fullmatch(r"/lists/([^/]+)/members", path)
    if members and method == "GET":
        record = world.lists.get(members.group(1))
        if record is None:
            return _problem(404, "No such list.")
        return json_response(
            200,
            {
                "list_id": record.list_id,
                "members": [
                    {
                        "email": world.contacts[key].email,
                        "contact_id": world.contacts[key].contact_id,
                        "first_name": world.contacts[key].first_name,
                        "last_name": world.contacts[key].last_name,
                        "permission_to_send": world.contacts[key].permission,
                    }
                    for key in record.members
                ],
            },
        )
    contact = re.fullmatch(r"/contacts/([^/]+)(/unsubscribe)?", path)
    if contact:
        email = unquote(contact.group(1))
        if contact.group(2) and method == "POST":
            if not emulator.unsubscribe(email):
                return _problem(404, f"No contact {email}.")
            return json_response(200, emulator.contact(email))
        if method == "GET":
            found = emulator.contact(email)
            return json_response(200, found) if found else _problem(404, f"No contact {email}.")
    if path == "/faults":
        if method == "GET":
            return json_response(200, {"faults": [str(fault) for fault in emulator.faults.faults]})
        if method == "POST":
            body = _body(request)
            specs = body.get("faults") if isinstance(body, dict) else None
            if not isinstance(specs, list) or not all(isinstance(item, str) for item in specs):
                return _problem(400, 'Send {"faults": ["imports#3-5=503", ...]}.')
            try:
                emulator.faults.add(*specs)
            except FaultSyntaxError as exc:
                return _problem(400, str(exc))
            return json_response(200, {"faults": [str(fault) for fault in emulator.faults.faults]})
        if method == "DELETE":
            emulator.faults.clear()
            return json_response(200, {"faults": []})
    if path == "/tokens/revoke" and method == "POST":
        if request.param("grants") == "true":
            emulator.authorization.revoke_grants()
        else:
            emulator.authorization.revoke_access_tokens()
        return json_response(200, {"revoked": True})
    if path == "/blocked" and method == "GET":
        return json_response(200, {"blocked": sorted(world.blocked | world.malformed)})
    if path == "/unsubscribed" and method == "GET":
        return json_response(
            200,
            {"emails": sorted(key for key, contact in world.contacts.items() if contact.permission == "unsubscribed")},
        )
    if path == "/blocked" and method == "POST":
        body = _body(request)
        if not isinstance(body, dict):
            body = {}
        emails = body.get("emails")
        if not isinstance(emails, list) or not all(isinstance(item, str) for item in emails):
            return _problem(400, 'Send {"emails": ["...", ...]} (and "correctable": true for malformed ones).')
        correctable = body.get("correctable", False)
        if not isinstance(correctable, bool):
            return _problem(400, '"correctable" must be true or false.')
        emulator.block(*emails, correctable=correctable)
        return json_response(200, {"blocked": sorted(world.blocked | world.malformed)})
    if path == "/activities" and method == "GET":
        return json_response(
            200,
            {
                "activities": [
                    {
                        "activity_id": record.activity_id,
                        "kind": record.kind,
                        "items": record.items,
                        "state": record.state,
                        "list_ids": record.list_ids,
                        "created_at": record.created_at.isoformat(),
                    }
                    for record in world.activities.values()
                ]
            },
        )
    if path == "/reset" and method == "POST":
        emulator.reset()
        return json_response(200, {"reset": True})
    return _problem(404, f"No emulator inspection resource {method} {request.path}.")


def _body(request: Request) -> object:
    try:
        return orjson.loads(request.body) if request.body else None
    except orjson.JSONDecodeError:
        return None
