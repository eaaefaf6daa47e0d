"""The store's tables (SQLAlchemy Core). Changes to them go with an Alembic migration in migrations/versions."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)


def _one_of(column: str, allowed: list[str], name: str) -> CheckConstraint:
    """A CHECK that `column` holds one of `allowed` (the enums in segport.runs.status)."""
    listed = ", ".join(f"'{value}'" for value in allowed)
    return CheckConstraint(f"{column} IN ({listed})", name=name)


# The values of segport.runs.status's enums, spelled out: the store does not import the packages above it.
RUN_STATUSES = ["Queued", "Processing", "Successful", "Skipped", "Failure", "Canceled"]
RUN_PHASES = ["sending", "polling", "removing", "done"]
RUN_WAITS = ["throttled", "outage", "quota", "reauthorization", "warehouse"]
BATCH_STATES = ["prepared", "initialized", "processing", "completed", "failed", "cancelled", "timed_out"]

# The active profile source: the embedded table (loaded from a file) or an external table or view.
profile_source = Table(
    "profile_source",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(20), nullable=False),  # embedded | external
    Column("table_name", String(255), nullable=False),
    Column("schema_name", String(255)),
    Column("key_field", String(255), nullable=False),
    Column("url_sealed", Text),  # external sources only; the URL may hold a password
    Column("file_name", Text),
    Column("row_count", BigInteger),
    Column("loaded_at", DateTime(timezone=True), nullable=False),
    Column("loaded_by", String(255), nullable=False),
)

profile_fields = Table(
    "profile_fields",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("source_name", Text, nullable=False),
    Column("type", String(20), nullable=False),  # text | integer | number | boolean | date | datetime
)

segments = Table(
    "segments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("description", Text),
    Column("rule_text", Text, nullable=False),
    Column("definition", Text, nullable=False),  # the rule model as JSON
    Column("active", Boolean, nullable=False, default=True),
    Column("member_count", BigInteger),
    Column("counted_at", DateTime(timezone=True)),
    Column("created_by", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Every count of a segment (a refresh, "count now", an edit): the member-count trend on its page (R73).
segment_counts = Table(
    "segment_counts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("segment_id", Integer, ForeignKey("segments.id", ondelete="CASCADE"), nullable=False),
    Column("counted_at", DateTime(timezone=True), nullable=False),
    Column("members", BigInteger, nullable=False),
    Index("ix_segment_counts_segment_counted", "segment_id", "counted_at"),
)

# A segment combined from others (union, intersect, except) depends on them: they cannot be deleted under it.
segment_dependencies = Table(
    "segment_dependencies",
    metadata,
    Column("segment_id", Integer, ForeignKey("segments.id", ondelete="CASCADE"), primary_key=True),
    Column("depends_on_id", Integer, ForeignKey("segments.id", ondelete="RESTRICT"), primary_key=True),
)

connections = Table(
    "connections",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("kind", String(40), nullable=False),  # constant_contact
    Column("allow_contributors", Boolean, nullable=False, default=False),
    Column("consent_by", String(255), nullable=False),
    Column("consent_at", DateTime(timezone=True), nullable=False),
    Column("export_user", String(255), nullable=False),
    Column("account_name", Text),
    Column("account_id", String(255)),
    Column("api_base", Text, nullable=False),
    Column("auth_base", Text, nullable=False),
    Column("client_id", String(255), nullable=False),
    Column("client_secret_sealed", Text, nullable=False),
    Column("webhook_url", Text),  # called when a run of this connection's exports ends Failure or Skipped
    Column("tokens_sealed", Text),
    Column("token_expires_at", DateTime(timezone=True)),
    Column("created_by", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

exports = Table(
    "exports",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    # NULL: disconnected by an admin so its connection could be removed; kept, but it does not run until an
    # edit gives it a connection again (R16).
    Column("connection_id", Integer, ForeignKey("connections.id", ondelete="RESTRICT"), nullable=True),
    Column("list_id", String(36), nullable=False),
    Column("list_name", Text),
    Column("email_field", String(255), nullable=False),
    Column("first_name_field", String(255)),
    Column("last_name_field", String(255)),
    # add: add and update, never remove (the original's behaviour); mirror: also remove who left the segments.
    Column("mode", String(10), nullable=False, server_default="add"),
    Column("created_by", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # What the sync state reflects: the profile version and the membership rules of the last successful run.
    # A rerun with the same rules reads only the profiles changed since that version.
    Column("synced_version", Integer),
    Column("synced_fingerprint", String(64)),
    # When it runs by itself: refresh (with the system refresh), own (schedule_spec), or off.
    Column("schedule_mode", String(10), nullable=False, server_default="refresh"),
    Column("schedule_spec", Text),  # a scheduling.calendar.Schedule as JSON, for `own`
    # Disconnected (no connection): whether the connection it had was shared with contributors. It keeps that
    # connection's access rules: a private connection's export does not open to contributors once disconnected.
    Column("contributors_allowed", Boolean),
    # The account's time when the last complete run read who unsubscribed: the next run asks only for the
    # opt-outs since then (less a day's overlap). NULL: the next run reads them all.
    Column("opt_outs_read_at", DateTime(timezone=True)),
    # ...and when one last read them all (the account's time too): a week after it, the next run reads them all
    # again, so an opt-out recorded later than the overlap is not missed for good. NULL: not since the upgrade.
    Column("opt_outs_whole_read_at", DateTime(timezone=True)),
)

export_segments = Table(
    "export_segments",
    metadata,
    Column("export_id", Integer, ForeignKey("exports.id", ondelete="CASCADE"), primary_key=True),
    Column("segment_id", Integer, ForeignKey("segments.id", ondelete="RESTRICT"), primary_key=True),
)

# More contact properties an export fills, each from a profile field (exports/properties.py names them).
export_fields = Table(
    "export_fields",
    metadata,
    Column("export_id", Integer, ForeignKey("exports.id", ondelete="CASCADE"), primary_key=True),
    Column("target", String(64), primary_key=True),  # a property (job_title...) or cf:<custom field name>
    Column("position", Integer, nullable=False),
    Column("source_field", String(255), nullable=False),
    # An empty profile value is sent as "" (which clears the property in Constant Contact) instead of left out.
    Column("send_empty", Boolean, nullable=False, server_default=false()),
)

# The counters a run keeps, each a column of `runs`.
RUN_COUNTERS = (
    "members",
    "sent",
    "added",
    "updated",
    "unchanged",
    "removed",
    "invalid_email",
    "duplicate",
    "unusable_key",
    "truncated",
    "cleaned",
    "left_out",
    "unsubscribed",
    "errors",
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("export_id", Integer, ForeignKey("exports.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(20), nullable=False),  # Queued Processing Successful Skipped Failure Canceled
    Column("trigger", String(20), nullable=False),  # manual | schedule
    Column("triggered_by", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("message", Text),
    Column("members", BigInteger, nullable=False, default=0),
    Column("sent", BigInteger, nullable=False, default=0),
    Column("invalid_email", BigInteger, nullable=False, default=0),
    Column("duplicate", BigInteger, nullable=False, default=0),
    # Warehouse rows without a key, or with one no store can keep (over profiles.source.MAX_KEY_LENGTH, a NUL).
    Column("unusable_key", BigInteger, nullable=False, server_default="0"),
    # How many run_rows the run has, kept by runs.record as it adds them (lists show it without counting them).
    Column("rows_not_sent", BigInteger, nullable=False, server_default="0"),
    Column("truncated", BigInteger, nullable=False, default=0),
    # Names that held control characters (a line break, a tab), taken out before sending.
    Column("cleaned", BigInteger, nullable=False, server_default="0"),
    Column("left_out", BigInteger, nullable=False, server_default="0"),  # mapped values that could not be sent
    Column("unsubscribed", BigInteger, nullable=False, default=0),
    Column("errors", BigInteger, nullable=False, default=0),
    # Resume point: how many streamed members the accepted batches covered.
    Column("stream_position", BigInteger, nullable=False, default=0),
    Column("mode", String(10), nullable=False, server_default="add"),
    Column("full", Boolean, nullable=False, server_default=false()),
    # sending -> polling -> removing -> done: where a resumed run picks up.
    Column("phase", String(20), nullable=False, server_default="sending"),
    Column("added", BigInteger, nullable=False, server_default="0"),
    Column("updated", BigInteger, nullable=False, server_default="0"),
    Column("unchanged", BigInteger, nullable=False, server_default="0"),
    Column("removed", BigInteger, nullable=False, server_default="0"),
    # The profile versions the run covers: (profiles_from, profiles_to]; profiles_from is None when the run
    # compares every member with the sync state instead of reading only the changed profiles.
    Column("profiles_from", Integer),
    Column("profiles_to", Integer),
    Column("fingerprint", String(64)),  # of the membership rules and field mapping the run used
    # The queue: a worker holds a Processing run by its lease, renewed while it works; an expired lease
    # (or a dead process on the same host) lets another worker take the run over and resume it.
    Column("lease_owner", String(200)),
    Column("lease_expires_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("cancel_requested", Boolean, nullable=False, server_default=false()),
    Column("tick_key", String(200)),  # the scheduled tick that queued it
    # Raised by every claim: a write of the run must name the generation it holds (fencing), so a worker that
    # lost its lease (paused past it, say) can no longer change the run another worker now holds.
    Column("lease_generation", Integer, nullable=False, server_default="0"),
    # Whether this run compares with the sync state (decided once, with the scope, so a resumed run reads the
    # same member stream).
    Column("incremental", Boolean),
    # What the run waits for (status.Wait), why, and until when. A run waiting for the daily quota or for a
    # reauthorization is parked: Queued and not claimable before `wait_until` / the reauthorization.
    Column("wait_reason", String(20)),
    Column("wait_detail", Text),
    Column("wait_until", DateTime(timezone=True)),
    # Mirror mode: the approval to remove more than the set share, the list's size before this run changed it,
    # and how many addresses the run decided to remove (decided once: a resumed run does not decide again).
    Column("allow_mass_removal", Boolean, nullable=False, server_default=false()),
    Column("list_size_before", BigInteger),
    Column("removal_planned", BigInteger),
    # The temporary list that carries the addresses to remove, until the run deletes it (or a later run does).
    Column("removal_list_id", String(64)),
    Index("ix_runs_export_status", "export_id", "status"),
    _one_of("status", RUN_STATUSES, "status"),
    _one_of("phase", RUN_PHASES, "phase"),
    _one_of("wait_reason", RUN_WAITS, "wait_reason"),
)
# At most one unfinished run per export: a second request joins it instead of queuing another.
Index(
    "ux_runs_one_unfinished",
    runs.c.export_id,
    unique=True,
    sqlite_where=runs.c.status.in_(["Queued", "Processing"]),
    postgresql_where=runs.c.status.in_(["Queued", "Processing"]),
)

run_batches = Table(
    "run_batches",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("number", Integer, primary_key=True),
    # Written `prepared` with its members (run_sent) before it is sent; the activity once Constant Contact took it.
    Column("activity_id", String(64)),
    Column("contacts", Integer, nullable=False),
    Column("body_bytes", Integer, nullable=False),
    Column("stream_end", BigInteger, nullable=False),
    Column("accepted_at", DateTime(timezone=True)),
    Column("state", String(20), nullable=False),
    # Set when the activity's outcome is acknowledged: its members moved into the sync state (or named not added).
    Column("finished_at", DateTime(timezone=True)),
    Column("person_count", Integer),
    Column("error_count", Integer),
    Column("cannot_add_count", Integer),
    Column("refused", Integer),  # members Constant Contact did not put on the list, found by reconciling
    Column("error_messages", Text),  # the activity's own activity_errors, joined
    _one_of("state", BATCH_STATES, "state"),
)

run_events = Table(
    "run_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("level", String(10), nullable=False),  # info | warning | error
    Column("message", Text, nullable=False),
)

# Every row that was not sent, or was sent and not added, with the reason.
run_rows = Table(
    "run_rows",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("profile_key", Text, nullable=False),
    Column("email", Text),
    Column("reason", String(40), nullable=False),
    Column("detail", Text),
)

# What an export has put in Constant Contact, per profile: written only from what Constant Contact acknowledged.
# No foreign key on export_id (nor on run_sent.run_id): PostgreSQL checks one row by row, which was 40 % of each
# batch's write here. exports.service.remove_export deletes both with the export, in its transaction, so an
# export or run given a removed one's id (SQLite reuses the highest) starts with nothing.
sync_state = Table(
    "sync_state",
    metadata,
    Column("export_id", Integer, primary_key=True),
    Column("profile_key", Text, primary_key=True),
    Column("email", Text, nullable=False),  # normalised, as sent
    # The source values as read, so a rerun finds changed members in SQL without reading the others.
    Column("raw_email", Text),
    Column("raw_first_name", Text),
    Column("raw_last_name", Text),
    # The mapped properties' values as read, one text (see exports/mapping.py); NULL when none has a value.
    Column("raw_extra", Text),
    Column("contact_id", String(64)),  # when known (from a list export)
    # True when this export put the contact on the list; mirror mode removes only those.
    Column("added_by_export", Boolean, nullable=False),
    # added | unsubscribed (Constant Contact could not add it) | refused (its import did not put it on the list):
    # the last two are not sent again until the profile changes.
    Column("outcome", String(20), nullable=False),
    Column("last_run_id", Integer, nullable=False),
    Index("ix_sync_state_export_email", "export_id", "email"),
)
# Partial: the few members held back (unsubscribed, refused) are listed by every run, without reading a
# million added ones.
Index(
    "ix_sync_state_held_back",
    sync_state.c.export_id,
    sqlite_where=sync_state.c.outcome != "added",
    postgresql_where=sync_state.c.outcome != "added",
)

# Members the export could not send as they are (invalid email, duplicate), so that a rerun that reads only
# changed profiles still accounts for them, and finds the duplicates to look at again when their twin changes.
sync_skipped = Table(
    "sync_skipped",
    metadata,
    Column("export_id", Integer, ForeignKey("exports.id", ondelete="CASCADE"), primary_key=True),
    Column("profile_key", Text, primary_key=True),
    Column("email", Text),
    Column("reason", String(40), nullable=False),  # invalid_email | duplicate
    Column("detail", Text),
    Index("ix_sync_skipped_export_email", "export_id", "email"),
)

# Every import of the embedded profiles is a version; `tracked` says its changed keys are in profile_changes
# (not when the fields changed, the previous source was another, or most rows changed).
profile_versions = Table(
    "profile_versions",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("loaded_at", DateTime(timezone=True), nullable=False),
    Column("tracked", Boolean, nullable=False),
    Column("changed", BigInteger),
)

# The keys a tracked version added, changed or deleted.
profile_changes = Table(
    "profile_changes",
    metadata,
    Column("version", Integer, ForeignKey("profile_versions.version", ondelete="CASCADE"), primary_key=True),
    Column("profile_key", Text, primary_key=True),
)

# The members each batch of a run carried, until Constant Contact's answer moves them into sync_state.
run_sent = Table(
    "run_sent",
    metadata,
    Column("run_id", Integer, nullable=False),  # no foreign key: see sync_state
    Column("batch_number", Integer, nullable=False),
    Column("profile_key", Text, nullable=False),
    Column("email", Text, nullable=False),
    Column("raw_email", Text),
    Column("raw_first_name", Text),
    Column("raw_last_name", Text),
    Column("on_list_before", Boolean, nullable=False),
    Column("raw_extra", Text),
    # The address this export had put on the list for the profile before, when the email changed.
    Column("replaced_email", Text),
    Index("ix_run_sent_run_batch", "run_id", "batch_number"),
)
# Batch number 0 holds the members of batches that a run prepared and may have sent, but whose acceptance was
# never recorded (the process died, or every attempt's outcome was unknown). They are reconciled with the list.
UNCERTAIN_BATCH = 0

# Addresses a mirror export must take off its list (replaced by a profile's new email), kept until a run has
# removed them: a run that fails before its removals leaves them here for the next.
pending_removals = Table(
    "pending_removals",
    metadata,
    Column("export_id", Integer, ForeignKey("exports.id", ondelete="CASCADE"), primary_key=True),
    Column("email", Text, primary_key=True),
    Column("profile_key", Text, nullable=False),
)

# Short leases on a named piece of work shared by processes (e.g. refreshing one connection's tokens).
locks = Table(
    "locks",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("owner", String(200), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

# The system refresh schedule (one row, id 1); no row or no spec: off.
system_schedule = Table(
    "system_schedule",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("spec", Text),  # a scheduling.calendar.Schedule as JSON
    Column("updated_by", String(255), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Every scheduled moment acted on, once: the scheduler that inserts the key queues the work; others skip it.
ticks = Table(
    "ticks",
    metadata,
    Column("key", String(200), primary_key=True),  # refresh@<UTC time> or export:<id>@<UTC time>
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
)

# A refresh: evaluate the active segments, then queue the exports that follow the refresh. Claimed by a
# worker with a lease, like runs.
refreshes = Table(
    "refreshes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tick_key", String(200)),
    Column("status", String(20), nullable=False),  # Queued Processing Successful Failure
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("lease_owner", String(200)),
    Column("lease_expires_at", DateTime(timezone=True)),
    Column("message", Text),
    Column("lease_generation", Integer, nullable=False, server_default="0"),
)

# One API key's request budget, shared by every process: the last requests' start times and the day's count.
api_budgets = Table(
    "api_budgets",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("day", String(10), nullable=False),
    Column("used", Integer, nullable=False),
    Column("recent", Text, nullable=False),  # JSON list of epoch seconds, the latest `per_second` slots
)

# People and their roles: admin (everything), contributor (exports on shared connections), viewer (reads).
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("role", String(20), nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("password_hash", Text),  # scrypt, for the web UI; NULL: this user signs in with API tokens only
)

# Web UI sessions: the cookie holds a random id; only its SHA-256 digest is kept. Each has its own CSRF token.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("notices", Text),  # JSON list of one-time messages shown on the next page
)

# API tokens: shown once, stored as a SHA-256 digest (they are long random strings, so no salt is needed).
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("digest", String(64), nullable=False, unique=True),
    Column("label", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)

# The audit trail: append-only; nothing in segport updates or deletes its rows.
audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(255), nullable=False),
    Column("action", String(40), nullable=False),  # e.g. export.created, run.queued, consent.given
    Column("subject", Text, nullable=False),
    Column("detail", Text),
    Index("ix_audit_at", "at"),
)

# Sign-ins to Constant Contact started from the API (the browser goes to Constant Contact and comes back to
# /oauth/callback): the state is single-use, short-lived, and bound to the user and the connection.
sign_ins = Table(
    "sign_ins",
    metadata,
    Column("state_digest", String(64), primary_key=True),  # SHA-256 of the state; the state itself is not kept
    Column("purpose", String(20), nullable=False),  # add | reauthorize
    Column("connection_name", String(255), nullable=False),
    Column("allow_contributors", Boolean, nullable=False),
    Column("user_name", String(255), nullable=False),
    Column("verifier_sealed", Text, nullable=False),  # the PKCE verifier, encrypted
    Column("redirect_uri", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
    # Started from the web UI: the browser session it must come back to, and, after the callback, the tokens
    # (sealed) and the account, kept until the wizard's Save (or the sign-in's expiry) and then deleted.
    Column("session_digest", String(64)),
    Column("tokens_sealed", Text),
    Column("account_name", Text),
    Column("account_id", Text),
)

# Where alerts go besides the run's own events: an email address list, a chat webhook (Slack's incoming
# webhook format) or a raw JSON webhook, for every export of a connection or for one export.
ALERT_KINDS = ["email", "chat", "webhook"]
ALERT_WHEN = ["problems", "every"]  # problems: Failure, Skipped or an alert raised; every: every finished run
alert_channels = Table(
    "alert_channels",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(10), nullable=False),
    Column("connection_id", Integer, ForeignKey("connections.id", ondelete="CASCADE")),
    Column("export_id", Integer, ForeignKey("exports.id", ondelete="CASCADE")),
    # Webhook URLs carry their secret in the path: the target is sealed; `shown` is what pages may show.
    Column("target_sealed", Text, nullable=False),
    Column("shown", Text, nullable=False),
    Column("runs", String(10), nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    _one_of("kind", ALERT_KINDS, "kind"),
    _one_of("runs", ALERT_WHEN, "runs"),
    CheckConstraint("(connection_id IS NULL) <> (export_id IS NULL)", name="one_scope"),
)

# Every alert sent or tried (tests included), newest last: what the Alerts page lists.
alerts_sent = Table(
    "alerts_sent",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("channel_id", Integer, ForeignKey("alert_channels.id", ondelete="SET NULL")),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="SET NULL")),
    Column("kind", String(10), nullable=False),
    Column("shown", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("delivered", Boolean, nullable=False),
    Column("detail", Text),  # why it could not be delivered
    Column("test", Boolean, nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=False),
    Index("ix_alerts_sent_at", "sent_at"),
)
