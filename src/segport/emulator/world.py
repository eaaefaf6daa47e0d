"""The emulated account's data: contacts, contact lists and bulk activities, with Constant Contact's rules.

Facts modelled (shared/reference/constant-contact-api.md): contacts are unique by email, case-insensitively;
imports create new contacts with implicit permission, update names of existing ones, never change
permission, and cannot add unsubscribed contacts to a list (`cannot_add_to_list_count`); duplicates within
one import are merged; invalid emails are counted as (correctable) errors; at most 1,000 lists per account
and 50 lists per contact; activities are processed in the order they were queued.

Inference (not documented): unsubscribing takes a contact off every list, as the product's UI shows it.
"""

from __future__ import annotations

import csv
import io
import itertools
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from segport.clock import Clock
from segport.constant_contact.addresses import is_valid_address
from segport.emulator import contact_properties

MAX_IMPORT_EMAIL = 50
MAX_NAME = 50
MAX_ERROR_MESSAGES = 100


def is_valid_email(email: str) -> bool:
    """Inference: Constant Contact documents no pattern; the emulator refuses what segport's written rule set
    refuses (constant_contact/addresses.py), so the two cannot drift apart."""
    return len(email) <= MAX_IMPORT_EMAIL and is_valid_address(email)


class _ContactIds:
    """Ids for new contacts: UUID v4 text, unique in this process and beyond (a random head, then a counter).

    uuid.uuid4() asks the OS for random bytes on every call: half the emulator's CPU in a 1M export, which on
    a 2-core machine it takes from the segport run it serves. Constant Contact's ids are opaque to clients:
    only their form and uniqueness matter."""

    def __init__(self) -> None:
        head = uuid.uuid4().hex  # its version (4) and variant digits stay in place
        self._head = f"{head[:8]}-{head[8:12]}-{head[12:16]}-{head[16:20]}-"
        self._numbers = itertools.count()

    def __call__(self) -> str:
        return f"{self._head}{next(self._numbers) % 2**48:012x}"


new_contact_id = _ContactIds()


# (row number, email, first name, last name, the item's other properties as sent or None)
ImportRow = tuple[int, str | None, str | None, str | None, dict[str, Any] | None]


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Contact:
    __slots__ = (
        "contact_id",
        "created_at",
        "email",
        "first_name",
        "last_name",
        "lists",
        "opt_out_date",
        "opt_out_source",
        "permission",
        "properties",
        "updated_at",
    )

    def __init__(self, email: str, first_name: str | None, last_name: str | None, now: datetime) -> None:
        self.contact_id = new_contact_id()
        self.email = email
        self.first_name = first_name
        self.last_name = last_name
        self.permission = "implicit"
        self.opt_out_source: str | None = None
        self.opt_out_date: datetime | None = None
        self.created_at = now
        self.updated_at = now
        # Most contacts are on one or two lists: a tuple costs far less than a set per contact.
        self.lists: tuple[str, ...] = ()
        # Job title, phones, addresses, birthday, anniversary, custom fields (cf:NAME) when an import set them.
        self.properties: dict[str, str | int] | None = None

    def public(self, *, include_lists: bool = False) -> dict[str, object]:
        address: dict[str, object] = {
            "address": self.email,
            "permission_to_send": self.permission,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "opt_in_source": "Account",
        }
        if self.opt_out_source:
            address["opt_out_source"] = self.opt_out_source
            if self.opt_out_date is not None:
                address["opt_out_date"] = iso(self.opt_out_date)
        body: dict[str, object] = {
            "contact_id": self.contact_id,
            "email_address": address,
            "create_source": "Account",
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }
        if self.first_name:
            body["first_name"] = self.first_name
        if self.last_name:
            body["last_name"] = self.last_name
        if include_lists:
            body["list_memberships"] = list(self.lists)
        return body


@dataclass
class CustomFieldRecord:
    custom_field_id: str
    label: str
    name: str  # the label with blanks as underscores: imports set it as cf:<name>
    type: str
    created_at: datetime

    def public(self) -> dict[str, object]:
        return {
            "custom_field_id": self.custom_field_id,
            "label": self.label,
            "name": self.name,
            "type": self.type,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.created_at),
        }


@dataclass
class ContactListRecord:
    list_id: str
    name: str
    favorite: bool
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    members: dict[str, None] = field(default_factory=dict)  # lower-case emails, in the order they joined

    def public(self, *, with_count: bool = False, post: bool = False) -> dict[str, object]:
        body: dict[str, object] = {
            "list_id": self.list_id,
            "name": self.name,
            "favorite": self.favorite,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }
        if self.description:
            body["description"] = self.description
        if with_count and not post:
            body["membership_count"] = len(self.members)
        return body


@dataclass
class Outcome:
    counts: dict[str, int]
    errors: list[str] = field(default_factory=list)
    results: bytes | None = None


@dataclass
class ActivityRecord:
    activity_id: str
    kind: str  # import, remove, export, delete_list
    items: int
    created_at: datetime
    # What the activity will do, as plain data (kept in the state file, so an emulator restarted with it
    # finishes the activities it had accepted): see World.perform. None once done.
    payload: dict[str, Any] | None
    start_at: datetime
    finish_at: datetime
    forced_end: str | None = None
    source_file_name: str | None = None
    state: str = "initialized"
    outcome: Outcome | None = None
    errors: list[str] = field(default_factory=list)
    list_ids: list[str] = field(default_factory=list)  # the lists an import or removal targets

    @property
    def finished(self) -> bool:
        return self.state in ("completed", "failed", "cancelled", "timed_out")

    def public(self, now: datetime) -> dict[str, object]:
        percent = 100 if self.finished else 0
        if self.state == "processing":
            span = (self.finish_at - self.start_at).total_seconds() or 1.0
            percent = min(99, int(100 * (now - self.start_at).total_seconds() / span))
        body: dict[str, object] = {
            "activity_id": self.activity_id,
            "state": self.state,
            "created_at": iso(self.created_at),
            "updated_at": iso(now if not self.finished else self.finish_at),
            "percent_done": percent,
            "activity_errors": list(self.errors),
            "_links": {"self": {"href": f"/v3/activities/{self.activity_id}"}},
        }
        if self.state != "initialized":
            body["started_at"] = iso(self.start_at)
        if self.finished:
            body["completed_at"] = iso(self.finish_at)
        if self.source_file_name:
            body["source_file_name"] = self.source_file_name
        counts = dict(self.outcome.counts) if self.outcome else {}
        if self.kind == "import":
            status = {
                "items_total_count": self.items,
                "person_count": 0,
                "error_count": 0,
                "correctable_count": 0,
                "cannot_add_to_list_count": 0,
            }
        elif self.kind in ("remove", "delete_list"):
            status = {"items_total_count": self.items, "items_completed_count": 0, "list_count": 0}
        else:
            status = {"items_total_count": self.items, "items_completed_count": 0}
        status.update({key: value for key, value in counts.items() if key in status})
        body["status"] = status
        if self.kind == "export" and self.state == "completed":
            body["_links"] = {
                "self": {"href": f"/v3/activities/{self.activity_id}"},
                "results": {"href": f"/v3/contact_exports/{self.activity_id}"},
            }
        return body


class World:
    """Contacts, lists and activities of the one emulated account. Not thread-safe: the emulator locks around it."""

    def __init__(
        self,
        clock: Clock,
        *,
        max_lists: int,
        max_lists_per_contact: int,
        contacts_per_second: float | None,
        activity_start_delay: float,
    ) -> None:
        self.clock = clock
        self.max_lists = max_lists
        self.max_lists_per_contact = max_lists_per_contact
        self.contacts_per_second = contacts_per_second
        self.activity_start_delay = activity_start_delay
        self.contacts: dict[str, Contact] = {}
        self.contacts_by_id: dict[str, Contact] = {}
        self.lists: dict[str, ContactListRecord] = {}
        self.activities: dict[str, ActivityRecord] = {}
        self.custom_fields: dict[str, CustomFieldRecord] = {}  # by name
        self._queue_end: datetime | None = None
        # Addresses this account's imports refuse although they look valid (Constant Contact refuses some
        # addresses for reasons a sender cannot check, e.g. a blocked domain): counted as import errors.
        self.blocked: set[str] = set()
        # Addresses the service's own format check finds malformed although segport's rules pass them (the two
        # rule sets may differ): counted as correctable errors, as the spec counts an invalid address.
        self.malformed: set[str] = set()

    # -- lists ---------------------------------------------------------------------------------------------

    def create_list(self, name: str, *, favorite: bool = False, description: str | None = None) -> ContactListRecord:
        now = self.clock.now()
        record = ContactListRecord(str(uuid.uuid4()), name, favorite, now, now, description)
        self.lists[record.list_id] = record
        return record

    def list_named(self, name: str) -> ContactListRecord | None:
        return next((record for record in self.lists.values() if record.name == name), None)

    def create_custom_field(self, label: str, kind: str) -> CustomFieldRecord:
        record = CustomFieldRecord(str(uuid.uuid4()), label, label.replace(" ", "_"), kind, self.clock.now())
        self.custom_fields[record.name] = record
        return record

    # -- contacts ------------------------------------------------------------------------------------------

    def upsert(
        self,
        email: str,
        first_name: str | None,
        last_name: str | None,
        now: datetime,
        properties: dict[str, str | int] | None = None,
    ) -> Contact:
        key = email.lower()
        contact = self.contacts.get(key)
        if contact is None:
            contact = Contact(email, first_name, last_name, now)
            self.contacts[key] = contact
            self.contacts_by_id[contact.contact_id] = contact
        else:
            # "existing contacts are updated only on the properties sent"
            if first_name is not None:
                contact.first_name = first_name
            if last_name is not None:
                contact.last_name = last_name
            contact.updated_at = now
        if properties:
            kept = dict(contact.properties or {})
            for name, value in properties.items():
                if value == "":
                    kept.pop(name, None)  # Inference: an empty value sent clears the property
                else:
                    kept[name] = value
            contact.properties = kept or None
        return contact

    def add_to_lists(self, contact: Contact, list_ids: Iterable[str]) -> bool:
        """Add the contact to lists; False when it would exceed the 50-lists-per-contact cap."""
        for list_id in list_ids:
            if list_id in contact.lists:
                continue
            if len(contact.lists) >= self.max_lists_per_contact:
                return False
            contact.lists = (*contact.lists, list_id)
            self.lists[list_id].members[contact.email.lower()] = None
        return True

    def remove_from_list(self, contact: Contact, list_id: str) -> bool:
        if list_id not in contact.lists:
            return False
        contact.lists = tuple(item for item in contact.lists if item != list_id)
        self.lists[list_id].members.pop(contact.email.lower(), None)
        return True

    def delete_list(self, list_id: str) -> Outcome:
        record = self.lists.pop(list_id, None)
        if record is None:
            return Outcome({})
        for key in record.members:
            contact = self.contacts[key]
            contact.lists = tuple(item for item in contact.lists if item != list_id)
        return Outcome({"items_completed_count": len(record.members)})

    def unsubscribe(self, email: str, *, source: str = "Contact") -> Contact | None:
        contact = self.contacts.get(email.strip().lower())
        if contact is None:
            return None
        now = self.clock.now()
        contact.permission = "unsubscribed"
        contact.opt_out_source = source
        contact.opt_out_date = now
        contact.updated_at = now
        for list_id in contact.lists:
            self.lists[list_id].members.pop(contact.email.lower(), None)
        contact.lists = ()
        return contact

    # -- bulk work -----------------------------------------------------------------------------------------

    def import_rows(self, rows: list[ImportRow], list_ids: list[str]) -> Outcome:
        """Apply an import: rows of (row number, email, first name, last name, other properties)."""
        now = self.clock.now()
        errors: list[str] = []
        # As the service counts them: a malformed address (or none) is a correctable error, counted only in
        # correctable_count; a refused address or a membership over the limit is an error (error_count).
        refused = {"error": 0, "correctable": 0}

        def refuse(number: int, message: str, *, correctable: bool) -> None:
            refused["correctable" if correctable else "error"] += 1
            if len(errors) < MAX_ERROR_MESSAGES:
                errors.append(f"Row {number}: {message}")

        custom_names = set(self.custom_fields)
        merged: dict[str, tuple[str, str | None, str | None, dict[str, str | int] | None]] = {}
        for number, email, first_name, last_name, item in rows:
            address = (email or "").strip()
            if not address or not is_valid_email(address) or address.lower() in self.malformed:
                refuse(number, "invalid email address.", correctable=True)
                continue
            if address.lower() in self.blocked:
                refuse(number, "the email address was refused.", correctable=False)
                continue
            if (first_name and len(first_name) > MAX_NAME) or (last_name and len(last_name) > MAX_NAME):
                refuse(number, f"a name is longer than {MAX_NAME} characters.", correctable=False)
                continue
            try:
                properties = contact_properties.read(item, custom_names) if item else None
            except contact_properties.RowRefused as refusal:
                refuse(number, str(refusal), correctable=refusal.correctable)
                continue
            key = address.lower()
            earlier = merged.get(key)
            if earlier is not None:  # duplicates in one import are merged; later values win
                first_name = first_name if first_name is not None else earlier[1]
                last_name = last_name if last_name is not None else earlier[2]
                properties = {**(earlier[3] or {}), **(properties or {})} or None
            merged[key] = (address, first_name, last_name, properties)
        error_count, correctable = refused["error"], refused["correctable"]
        cannot_add = 0
        for address, first_name, last_name, properties in merged.values():
            contact = self.upsert(address, first_name, last_name, now, properties)
            if contact.permission == "unsubscribed":
                cannot_add += 1
                continue
            if not self.add_to_lists(contact, list_ids):
                error_count += 1
                if len(errors) < MAX_ERROR_MESSAGES:
                    errors.append(
                        f"{address}: a contact can be a member of at most {self.max_lists_per_contact} lists."
                    )
        counts = {
            "person_count": len(merged),
            "error_count": error_count,
            "correctable_count": correctable,
            "cannot_add_to_list_count": cannot_add,
        }
        return Outcome(counts, errors)

    def remove_members(self, contact_ids: list[str], list_ids: list[str]) -> Outcome:
        completed = 0
        for contact_id in contact_ids:
            contact = self.contacts_by_id.get(contact_id)
            if contact is None:
                continue
            for list_id in list_ids:
                self.remove_from_list(contact, list_id)
            completed += 1
        return Outcome({"items_completed_count": completed, "list_count": len(list_ids)})

    def export_csv(self, list_ids: list[str], fields: list[str], status: str | None) -> Outcome:
        """A contact export's CSV: one column per requested field, headed by its name. Fields the emulator does not
        keep (phones, addresses...) come back empty, as does any unknown field its permissive mode accepted."""
        if list_ids:
            keys: dict[str, None] = {}
            for list_id in list_ids:
                keys.update(self.lists[list_id].members)
            contacts: Iterable[Contact] = (self.contacts[key] for key in keys)
        else:
            contacts = self.contacts.values()
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(fields)
        count = 0
        for contact in contacts:
            unsubscribed = contact.permission == "unsubscribed"
            if (status == "active" and unsubscribed) or (status == "unsubscribed" and not unsubscribed):
                continue
            if status == "removed":
                continue  # the emulator deletes no contact
            values = self._export_values(contact)
            writer.writerow([values.get(name, "") for name in fields])
            count += 1
        return Outcome({"items_completed_count": count}, results=out.getvalue().encode("utf-8"))

    def _export_values(self, contact: Contact) -> dict[str, str]:
        return {
            "email_address": contact.email,
            "first_name": contact.first_name or "",
            "last_name": contact.last_name or "",
            "email_lists": ",".join(self.lists[list_id].name for list_id in contact.lists if list_id in self.lists),
            "created_at": iso(contact.created_at),
            "updated_at": iso(contact.updated_at),
            "email_permission": contact.permission,
            "email_optin": "false" if contact.permission == "unsubscribed" else "true",
            "email_optin_source": "Account",
            "email_optin_date": iso(contact.created_at),
            "email_optout_source": contact.opt_out_source or "",
            "email_optout_date": iso(contact.opt_out_date) if contact.opt_out_date else "",
            "source_name": "Account",
            # Not documented export fields: only the permissive mode lets a request ask for them.
            "contact_id": contact.contact_id,
            "permission_to_send": contact.permission,
        }

    # -- activities ----------------------------------------------------------------------------------------

    def queue_activity(
        self,
        kind: str,
        items: int,
        payload: dict[str, Any],
        *,
        forced_end: str | None = None,
        source_file_name: str | None = None,
        list_ids: list[str] | None = None,
    ) -> tuple[ActivityRecord, dict[str, object]]:
        """Queue an activity; returns it and the body of the 201 answer, which shows it as just received."""
        now = self.clock.now()
        if self.contacts_per_second is None:
            start = finish = now
        else:
            start = max(now + timedelta(seconds=self.activity_start_delay), self._queue_end or now)
            finish = start + timedelta(seconds=max(items, 1) / self.contacts_per_second)
        self._queue_end = finish
        record = ActivityRecord(
            str(uuid.uuid4()),
            kind,
            items,
            now,
            payload,
            start,
            finish,
            forced_end,
            source_file_name,
            list_ids=list(list_ids or []),
        )
        self.activities[record.activity_id] = record
        snapshot = record.public(now)
        if self.contacts_per_second is None:
            self._finish(record)
        return record, snapshot

    def advance(self) -> None:
        """Move activities along to where the clock says they are; apply those that finished, in queue order."""
        now = self.clock.now()
        for record in self.activities.values():
            if record.finished:
                continue
            if now >= record.finish_at:
                self._finish(record)
            elif now >= record.start_at:
                record.state = "processing"

    def queued_count(self) -> int:
        return sum(1 for record in self.activities.values() if not record.finished)

    def _finish(self, record: ActivityRecord) -> None:
        if record.forced_end is not None:
            record.state = record.forced_end
            record.errors.append(f"The activity ended {record.forced_end} (emulator fault schedule).")
        else:
            record.outcome = self.perform(record.kind, record.payload or {})
            record.errors.extend(record.outcome.errors)
            record.state = "completed"
        record.payload = None  # let the parsed rows go

    def perform(self, kind: str, payload: dict[str, Any]) -> Outcome:
        """Do what an activity of `kind` was asked to do (its payload is what the request carried)."""
        if kind == "import":
            # Rows saved by an emulator before properties existed have four items.
            rows = [(int(row[0]), row[1], row[2], row[3], row[4] if len(row) > 4 else None) for row in payload["rows"]]
            return self.import_rows(rows, payload["list_ids"])
        if kind == "remove":
            return self.remove_members(payload["contact_ids"], payload["list_ids"])
        if kind == "export":
            return self.export_csv(payload["list_ids"], payload["fields"], payload["status"])
        if kind == "delete_list":
            return self.delete_list(payload["list_id"])
        raise ValueError(f"unknown activity kind {kind!r}")
