"""The shapes segport gives out: the REST API's responses and the CLI's `--json`, one definition for both.

Field names here are a published contract (docs/json-output.md, and the OpenAPI document): add fields, never
rename or remove one. Every time carries its time zone (UTC): the store gives some back without one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from segport.scheduling.calendar import Schedule


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


Time = Annotated[datetime, AfterValidator(_utc)]


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Counts(Output):
    members: int = Field(description="Profiles in the export's segments.")
    sent: int = Field(description="Contacts sent to Constant Contact (new and changed).")
    added: int
    updated: int
    unchanged: int = Field(description="Members not sent because nothing changed since they were last sent.")
    removed: int = Field(description="Contacts taken off the list (mirror exports).")
    invalid_email: int
    duplicate: int
    unusable_key: int = Field(
        description="Members not sent: their key is missing, on more than one row, over 500 characters or holds NUL."
    )
    truncated: int = Field(description="Values shortened to fit Constant Contact's limits.")
    cleaned: int = Field(description="Members whose name or a mapped value had control characters taken out.")
    left_out: int = Field(description="Mapped values a property cannot take, left out (the contact was sent).")
    unsubscribed: int = Field(description="Members not added because they unsubscribed.")
    errors: int


class Run(Output):
    id: int
    export: str
    status: str = Field(description="Queued, Processing, Successful, Skipped, Failure or Canceled.")
    trigger: str = Field(description="manual or schedule.")
    triggered_by: str
    created_at: Time
    started_at: Time | None
    finished_at: Time | None
    duration_seconds: float | None
    message: str | None
    counts: Counts
    rows_not_sent: int = Field(description="Rows not sent, not added or not removed (GET .../rows lists them).")
    wait_reason: str | None = Field(
        default=None,
        description="What a run waits for: throttled, outage or warehouse while Processing; quota or "
        "reauthorization while Queued (parked).",
    )
    wait_until: Time | None = None


class Batch(Output):
    number: int
    activity_id: str | None
    contacts: int
    state: str
    accepted_at: Time | None
    finished_at: Time | None
    person_count: int | None
    error_count: int | None
    cannot_add_count: int | None


class Event(Output):
    at: Time
    level: str = Field(description="info, warning or error.")
    message: str


class RunDetail(Run):
    batches: list[Batch]
    events: list[Event]


class Row(Output):
    profile_key: str
    email: str | None
    reason: str
    detail: str | None


class Mapping(Output):
    source_field: str
    target: str
    send_empty: bool


class Export(Output):
    id: int
    name: str
    connection: str | None = Field(description="None: disconnected; it does not run until it gets one.")
    connection_id: int | None
    list_id: str
    list_name: str | None
    email_field: str
    first_name_field: str | None
    last_name_field: str | None
    mode: str = Field(description="add or mirror.")
    segments: list[str]
    fields: list[Mapping]
    created_by: str
    created_at: Time
    updated_at: Time
    last_status: str | None
    last_run_at: Time | None
    contributors_allowed: bool | None


class Segment(Output):
    id: int
    name: str
    rule: str
    definition: dict[str, Any] | None = Field(description="The rule as a tree; None when it cannot be read.")
    problem: str | None
    active: bool
    member_count: int | None
    counted_at: Time | None
    description: str | None
    exports: list[str]
    used_by_segments: list[str]


class Connection(Output):
    id: int
    name: str
    kind: str
    allow_contributors: bool
    consent_by: str
    consent_at: Time
    export_user: str
    account_name: str | None
    account_id: str | None
    api_base: str
    token_expires_at: Time | None
    exports: list[str]


class AccountList(Output):
    list_id: str
    name: str
    members: int | None
    favorite: bool
    exports: list[str]


class Channel(Output):
    id: int
    kind: str = Field(description="email, chat or webhook.")
    scope: str
    connection: str | None
    export: str | None
    shown: str = Field(description="Where it goes: addresses, or a URL's host (its secret path is not shown).")
    runs: str
    created_by: str
    created_at: Time


class SentAlert(Output):
    id: int
    channel_id: int | None
    run_id: int | None
    kind: str
    shown: str
    subject: str
    delivered: bool
    detail: str | None
    test: bool
    sent_at: Time


class User(Output):
    id: int
    name: str
    role: str
    created_at: Time
    has_password: bool | None = Field(
        default=None, description="Whether the user can sign in to the web UI (tokens work either way)."
    )


class Token(Output):
    id: int
    user: str
    label: str
    created_at: Time
    last_used_at: Time | None
    revoked_at: Time | None


class AuditEntry(Output):
    id: int
    at: Time
    actor: str
    action: str
    subject: str
    detail: dict[str, Any] | None


def run(view: Any) -> Run:
    return Run.model_validate(view)


def run_detail(view: Any) -> RunDetail:
    return RunDetail.model_validate(view)


def segment(view: Any) -> Segment:
    definition = view.stored_rule.model_dump(mode="json") if view.stored_rule is not None else None
    return Segment.model_validate({**_fields(view), "rule": view.rule_text, "definition": definition})


def export(view: Any) -> Export:
    return Export.model_validate({**_fields(view), "fields": [_fields(item) for item in view.fields]})


def _fields(view: Any) -> dict[str, Any]:
    return {name: getattr(view, name) for name in view.__dataclass_fields__}


class PlannedRow(Output):
    action: str = Field(description="add, update, remove or skip.")
    profile_key: str
    email: str
    reason: str


class DryRun(Output):
    export: str
    mode: str
    full: bool
    members: int
    add: int
    update: int
    remove: int
    unchanged: int
    skip: dict[str, int] = Field(description="Rows that would not be sent, by reason.")
    message: str
    samples: dict[str, list[PlannedRow]] = Field(description="The first rows of each action, with their reasons.")


def dry_run(report: Any) -> DryRun:
    return DryRun.model_validate({**_fields(report), "skip": dict(report.skip)})


class ExportForUser(Export):
    your_permissions: str = Field(description="edit or view: what the caller may do with this export.")


class ListedConnection(Output):
    """A connection in the list: every field for those the caller may use, else only name, kind and usable."""

    name: str
    kind: str
    usable: bool
    id: int | None = None
    allow_contributors: bool | None = None
    consent_by: str | None = None
    consent_at: Time | None = None
    export_user: str | None = None
    account_name: str | None = None
    account_id: str | None = None
    api_base: str | None = None
    token_expires_at: Time | None = None
    exports: list[str] | None = None


class ExportSchedule(Output):
    export: str
    mode: str = Field(description="refresh (follows the system refresh), own, or off.")
    schedule: Schedule | None
    next_at: Time | None = Field(description="The next run this schedule queues (UTC).")


class Schedules(Output):
    system: Schedule | None = Field(description="The system refresh; None: off.")
    exports: list[ExportSchedule]


class Refresh(Output):
    id: int
    trigger: str
    status: str
    created_at: Time
    started_at: Time | None
    finished_at: Time | None
    message: str | None
    duration_seconds: float | None


class ProfileField(Output):
    name: str
    type: str
    column: str = Field(description="The column's name in the loaded file or table.")


class ProfileSource(Output):
    description: str | None
    key: str | None
    fields: list[ProfileField]
    rows: int | None
    loaded_at: Time | None
    loaded_by: str | None
    problem: str | None = Field(
        default=None, description="Why a warehouse's rows could not be counted (it does not answer, its table changed)."
    )


class SegmentCount(Output):
    name: str
    members: int


class CountAt(Output):
    counted_at: Time
    members: int


class Property(Output):
    target: str
    label: str
    kind: str
    max_length: int | None


class RunQueued(Output):
    run_id: int
    joined: bool = Field(description="True: a run was already queued or working; this is that one.")


class ExportRunQueued(RunQueued):
    export: str


def profile_source(described: Any) -> ProfileSource:
    return ProfileSource(
        description=described.description,
        key=described.key,
        fields=[ProfileField(name=f.name, type=f.type, column=f.source_name) for f in described.fields],
        rows=described.row_count,
        loaded_at=described.loaded_at,
        loaded_by=described.loaded_by,
        problem=described.problem,
    )


def export_schedule(item: Any) -> ExportSchedule:
    return ExportSchedule(export=item.export, mode=item.mode, schedule=item.schedule, next_at=item.next_at)


def contact_properties(custom_fields: Any = ()) -> list[Property]:
    """The contact properties an export's field mapping can fill, then the account's custom fields (cf:NAME)."""
    from segport.exports.properties import PROPERTIES

    found = [
        Property(target=key, label=item.label, kind=item.kind, max_length=_text_limit(item))
        for key, item in PROPERTIES.items()
    ]
    return found + [
        Property(target=f"cf:{custom.name}", label=custom.label, kind=custom.type, max_length=255)
        for custom in custom_fields
    ]


def _text_limit(item: Any) -> int | None:
    return int(item.max_length) if item.kind == "text" else None
