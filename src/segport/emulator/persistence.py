"""Keep an emulator's state in a file, so `segport emulator --state FILE` survives a restart.

The file is JSON, written to a temporary file and renamed into place, so a crash mid-write leaves the
previous state. Activities still running when the state is saved are finished first (their effects would
otherwise be lost); request counters and the fault schedule are not kept.
"""

from __future__ import annotations

import base64
import os
import threading
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from segport.emulator.authorization import RefreshGrant
from segport.emulator.world import ActivityRecord, Contact, ContactListRecord, CustomFieldRecord, Outcome

if TYPE_CHECKING:
    from segport.emulator.core import Emulator

FORMAT = 1


def save_state(emulator: Emulator, path: Path) -> None:
    with emulator._lock:
        world = emulator.world
        for record in world.activities.values():
            if not record.finished:
                record.finish_at = emulator.clock.now()
        world.advance()
        state: dict[str, Any] = {
            "format": FORMAT,
            "blocked": sorted(world.blocked),
            "malformed": sorted(world.malformed),
            "lists": [
                {
                    "list_id": r.list_id,
                    "name": r.name,
                    "favorite": r.favorite,
                    "description": r.description,
                    "created_at": r.created_at.isoformat(),
                    "updated_at": r.updated_at.isoformat(),
                    "members": list(r.members),
                }
                for r in world.lists.values()
            ],
            "contacts": [
                [
                    c.contact_id,
                    c.email,
                    c.first_name,
                    c.last_name,
                    c.permission,
                    c.opt_out_source,
                    c.opt_out_date.isoformat() if c.opt_out_date else None,
                    c.created_at.isoformat(),
                    c.updated_at.isoformat(),
                    list(c.lists),
                    c.properties,
                ]
                for c in world.contacts.values()
            ],
            "custom_fields": [
                [f.custom_field_id, f.label, f.name, f.type, f.created_at.isoformat()]
                for f in world.custom_fields.values()
            ],
            "activities": [
                {
                    "activity_id": a.activity_id,
                    "kind": a.kind,
                    "items": a.items,
                    "state": a.state,
                    "created_at": a.created_at.isoformat(),
                    "start_at": a.start_at.isoformat(),
                    "finish_at": a.finish_at.isoformat(),
                    "errors": a.errors,
                    "payload": a.payload,
                    "forced_end": a.forced_end,
                    "list_ids": a.list_ids,
                    "counts": a.outcome.counts if a.outcome else {},
                    "results": base64.b64encode(a.outcome.results).decode()
                    if a.outcome and a.outcome.results
                    else None,
                }
                for a in world.activities.values()
            ],
            "authorization": {
                "signing_key": base64.b64encode(emulator.authorization.signing_key).decode(),
                "revoked_before": emulator.authorization.revoked_before,
                "grants": [
                    {
                        "grant_id": g.grant_id,
                        "client_id": g.client_id,
                        "scope": g.scope,
                        "token": token,
                        "last_used": g.last_used.isoformat(),
                        "revoked": g.revoked,
                        "issued": g.issued,
                    }
                    for token, g in emulator.authorization.grants.items()
                ],
            },
        }
        emulator.dirty = False
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_bytes(orjson.dumps(state))
    os.replace(temporary, path)


def load_state(emulator: Emulator, path: Path) -> None:
    state = orjson.loads(path.read_bytes())
    if state.get("format") != FORMAT:
        raise ValueError(f"{path} is not an emulator state file of format {FORMAT}.")
    world = emulator.world
    world.blocked = set(state.get("blocked") or [])
    world.malformed = set(state.get("malformed") or [])
    for item in state["lists"]:
        record = ContactListRecord(
            item["list_id"],
            item["name"],
            item["favorite"],
            datetime.fromisoformat(item["created_at"]),
            datetime.fromisoformat(item["updated_at"]),
            item.get("description"),
        )
        record.members = dict.fromkeys(item["members"])
        world.lists[record.list_id] = record
    for row in state["contacts"]:
        contact_id, email, first, last, permission, source, opt_out, created, updated, lists = row[:10]
        contact = Contact(email, first, last, datetime.fromisoformat(created))
        contact.contact_id = contact_id
        contact.permission = permission
        contact.opt_out_source = source
        contact.opt_out_date = datetime.fromisoformat(opt_out) if opt_out else None
        contact.updated_at = datetime.fromisoformat(updated)
        contact.lists = tuple(lists)
        contact.properties = row[10] if len(row) > 10 else None  # states saved before properties: none
        world.contacts[email.lower()] = contact
        world.contacts_by_id[contact_id] = contact
    for field_id, label, name, kind, created in state.get("custom_fields") or []:
        world.custom_fields[name] = CustomFieldRecord(field_id, label, name, kind, datetime.fromisoformat(created))
    for item in state["activities"]:
        results = base64.b64decode(item["results"]) if item.get("results") else None
        finished = item["state"] in ("completed", "failed", "cancelled", "timed_out")
        activity = ActivityRecord(
            item["activity_id"],
            item["kind"],
            item["items"],
            datetime.fromisoformat(item["created_at"]),
            None if finished else item.get("payload"),  # an accepted activity is finished after a restart too
            datetime.fromisoformat(item["start_at"]),
            datetime.fromisoformat(item["finish_at"]),
            forced_end=item.get("forced_end"),
            state=item["state"],
            outcome=Outcome(item["counts"], results=results) if finished else None,
            errors=item["errors"],
            list_ids=item.get("list_ids") or [],
        )
        world.activities[activity.activity_id] = activity
    auth = state["authorization"]
    emulator.authorization.signing_key = base64.b64decode(auth["signing_key"])
    emulator.authorization.revoked_before = auth["revoked_before"]
    for item in auth["grants"]:
        emulator.authorization.grants[item["token"]] = RefreshGrant(
            item["grant_id"],
            item["client_id"],
            item["scope"],
            item["token"],
            datetime.fromisoformat(item["last_used"]),
            item["revoked"],
            item["issued"],
        )


class PeriodicSaver:
    """Saves the state every few seconds while it has changed, and once more on stop."""

    def __init__(self, emulator: Emulator, path: Path, every_seconds: float = 2.0) -> None:
        self.emulator = emulator
        self.path = path
        self.every = every_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="emulator-saver", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        save_state(self.emulator, self.path)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            if self.emulator.dirty:
                save_state(self.emulator, self.path)
