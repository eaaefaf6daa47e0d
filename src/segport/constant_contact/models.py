"""Typed shapes of what segport sends to and reads from Constant Contact (V3 spec names kept as they are)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# Limits from the V3 spec and developer guide (see shared/reference/constant-contact-api.md §3 and §5).
MAX_IMPORT_CONTACTS = 40_000
# "If the request body exceeds 4 MB, this method only imports the first 4 MB and drops the remaining data."
# 4 MB read conservatively as 4,000,000 bytes: a body must stay strictly below it.
MAX_IMPORT_BYTES = 4_000_000
MAX_CSV_IMPORT_CONTACTS = 39_999  # 40,000 lines including the header
MAX_LIST_IDS = 50
MAX_REMOVE_CONTACT_IDS = 500
MAX_IMPORT_EMAIL_LENGTH = 50
MAX_NAME_LENGTH = 50

TERMINAL_STATES = frozenset({"completed", "failed", "cancelled", "timed_out"})
ActivityState = Literal["initialized", "processing", "completed", "failed", "cancelled", "timed_out"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class AccountSummary(_Model):
    encoded_account_id: str | None = None
    organization_name: str | None = None
    contact_email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    country_code: str | None = None
    time_zone_id: str | None = None


class CustomField(_Model):
    custom_field_id: str
    label: str
    name: str  # the label with blanks as underscores: the key `cf:<name>` of an import
    type: str = "string"


class ContactList(_Model):
    list_id: str
    name: str
    description: str | None = None
    favorite: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deleted_at: datetime | None = None
    membership_count: int | None = None


class ActivityStatus(_Model):
    items_total_count: int | None = None
    items_completed_count: int | None = None
    person_count: int | None = None
    error_count: int | None = None
    correctable_count: int | None = None
    cannot_add_to_list_count: int | None = None
    list_count: int | None = None

    @property
    def problems(self) -> int:
        """Rows the import did not take: the service counts an invalid address as correctable (not as an error),
        and a refused one as an error; each may hold a row that is not on the list."""
        return (self.error_count or 0) + (self.correctable_count or 0)


class Link(_Model):
    href: str


class ActivityLinks(_Model):
    self_: Link | None = Field(default=None, alias="self")
    results: Link | None = None


class Activity(_Model):
    activity_id: str
    state: str
    created_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    updated_at: datetime | None = None
    percent_done: int | None = None
    # Import and list activities give strings; tag and delete activities give {"message": ...} objects.
    activity_errors: list[str | dict[str, object]] = Field(default_factory=list)
    status: ActivityStatus = Field(default_factory=ActivityStatus)
    links: ActivityLinks = Field(default_factory=ActivityLinks, alias="_links")

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def error_messages(self) -> list[str]:
        return [e if isinstance(e, str) else str(e.get("message", e)) for e in self.activity_errors]


@dataclass
class OptOuts:
    """The account's unsubscribed addresses as one read found them. `as_of`: the account's time when the read
    began (the export activity's creation, or the Date header of the first page), so the next read can ask for
    the opt-outs since then without trusting this machine's clock. `whole`: every unsubscribed address of the
    account, or only those that unsubscribed after a given time."""

    emails: set[str]
    as_of: datetime
    whole: bool

    def widen(self, whole: OptOuts) -> None:
        """Take a whole read's answer in place of this partial one (whoever holds this object sees it)."""
        self.emails, self.as_of, self.whole = whole.emails, whole.as_of, True
