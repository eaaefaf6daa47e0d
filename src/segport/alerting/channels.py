"""Alert channels: where a run's outcome is told besides its own page. An email list (through the SMTP server
in the settings), a chat webhook in Slack's incoming-webhook format (Slack, Mattermost, Rocket.Chat and others
read it) or a raw JSON webhook; for every export of a connection (admins) or for one export (those who manage
it). A channel's URL is sealed at rest: chat webhook URLs are their own password.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, Select, delete, false, insert, or_, select

from segport import audit
from segport.constant_contact.addresses import is_valid_address
from segport.errors import InvalidInput, UnknownName
from segport.store import Store
from segport.store.tables import alert_channels, alerts_sent, connections, exports
from segport.webhook_targets import check_target, shown

KINDS = {"email": "Email", "chat": "Chat (Slack format)", "webhook": "JSON webhook"}
WHEN = {"problems": "Failures, skipped runs and alerts", "every": "Every finished run"}
MAX_RECIPIENTS = 20


@dataclass(frozen=True)
class Channel:
    id: int
    kind: str
    scope: str  # "connection NAME" or "export NAME"
    connection: str | None
    export: str | None
    shown: str
    runs: str
    created_by: str
    created_at: datetime


def check_recipients(text: str) -> list[str]:
    """Email addresses, separated by commas or blanks; each checked by segport's written rules (no DNS)."""
    found = [part.strip() for part in text.replace(";", ",").replace(" ", ",").split(",") if part.strip()]
    if not found:
        raise InvalidInput("No email address was given.", hint="Give one or more, separated by commas.")
    if len(found) > MAX_RECIPIENTS:
        raise InvalidInput(f"{len(found)} addresses; at most {MAX_RECIPIENTS}.", hint="Use a mailing list address.")
    for address in found:
        if not is_valid_address(address):
            raise InvalidInput(f"{address!r} is not an email address.", hint="Check the spelling.")
    return list(dict.fromkeys(found))


def add_channel(
    store: Store,
    *,
    kind: str,
    target: str,
    actor: str,
    connection: str | None = None,
    export: str | None = None,
    runs: str = "problems",
) -> Channel:
    """A new channel; the caller checked that `actor` may set it (admins for a connection, the export's
    managers for an export)."""
    if kind not in KINDS:
        raise InvalidInput(f"{kind!r} is not a kind of alert.", hint=f"Choose one of: {', '.join(KINDS)}.")
    if runs not in WHEN:
        raise InvalidInput(f"{runs!r} is not a choice of runs.", hint=f"Choose one of: {', '.join(WHEN)}.")
    if (connection is None) == (export is None):
        raise InvalidInput("An alert is for a connection or for an export.", hint="Name one of them.")
    target = target.strip()
    if kind == "email":
        if not store.settings.smtp_host or not store.settings.smtp_from:
            raise InvalidInput(
                "Email alerts need an SMTP server, and segport has none.",
                hint="Set SEGPORT_SMTP_HOST and SEGPORT_SMTP_FROM (and the port, security and sign-in: see the "
                "README's Alerts section), or choose a chat or webhook alert.",
            )
        target = display = ", ".join(check_recipients(target))
    else:
        check_target(target, allow_internal=store.settings.webhook_allow_internal)
        display = shown(target)
    with store.begin() as db:
        connection_id = export_id = None
        if connection is not None:
            connection_id = db.execute(select(connections.c.id).where(connections.c.name == connection)).scalar()
            if connection_id is None:
                raise UnknownName(
                    f"There is no connection {connection!r}.",
                    hint="Check the name in the list of connections.",
                    field="connection",
                )
        else:
            export_id = db.execute(select(exports.c.id).where(exports.c.name == export)).scalar()
            if export_id is None:
                raise UnknownName(
                    f"There is no export {export!r}.", hint="Check the name in the list of exports.", field="export"
                )
        channel_id = db.execute(
            insert(alert_channels).values(
                kind=kind,
                connection_id=connection_id,
                export_id=export_id,
                target_sealed=store.secrets.seal(target),
                shown=display,
                runs=runs,
                created_by=actor,
                created_at=datetime.now(UTC),
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        scope = f"connection {connection}" if connection else f"export {export}"
        audit.record(db, actor, "alert.added", scope, kind=kind, to=display, runs=runs)
    return show_channel(store, int(channel_id))


def _select() -> Select[Any]:
    return (
        select(alert_channels, connections.c.name.label("connection_name"), exports.c.name.label("export_name"))
        .outerjoin(connections, connections.c.id == alert_channels.c.connection_id)
        .outerjoin(exports, exports.c.id == alert_channels.c.export_id)
    )


def _channel(row: Row[Any]) -> Channel:
    values = row._mapping
    connection, export = values["connection_name"], values["export_name"]
    return Channel(
        values["id"],
        values["kind"],
        f"connection {connection}" if connection else f"export {export}",
        connection,
        export,
        values["shown"],
        values["runs"],
        values["created_by"],
        values["created_at"],
    )


def list_channels(store: Store) -> list[Channel]:
    with store.read() as db:
        return [_channel(row) for row in db.execute(_select().order_by(alert_channels.c.id))]


def show_channel(store: Store, channel_id: int) -> Channel:
    with store.read() as db:
        row = db.execute(_select().where(alert_channels.c.id == channel_id)).first()
    if row is None:
        raise UnknownName(
            f"There is no alert {channel_id}.", hint="Check the number in the list of alerts.", field="alert"
        )
    return _channel(row)


def remove_channel(store: Store, channel_id: int, *, actor: str) -> None:
    channel = show_channel(store, channel_id)
    with store.begin() as db:
        db.execute(delete(alert_channels).where(alert_channels.c.id == channel_id))
        audit.record(db, actor, "alert.removed", channel.scope, kind=channel.kind, to=channel.shown)


def target_of(store: Store, channel_id: int) -> str:
    """The channel's address or URL, unsealed for sending."""
    with store.read() as db:
        sealed = db.execute(
            select(alert_channels.c.target_sealed).where(alert_channels.c.id == channel_id)
        ).scalar_one()
    return store.secrets.open(sealed)


def channels_for_run(store: Store, connection_id: int | None, export_id: int) -> Sequence[Channel]:
    """The channels of the export and of its connection."""
    with store.read() as db:
        of_connection = alert_channels.c.connection_id == connection_id if connection_id is not None else false()
        query = _select().where(or_(alert_channels.c.export_id == export_id, of_connection))
        return [_channel(row) for row in db.execute(query.order_by(alert_channels.c.id))]


@dataclass(frozen=True)
class SentAlert:
    id: int
    channel_id: int | None  # None: the channel was removed since
    run_id: int | None
    kind: str
    shown: str
    subject: str
    delivered: bool
    detail: str | None
    test: bool
    sent_at: datetime


def list_sent(store: Store, *, limit: int = 50, before: int | None = None) -> list[SentAlert]:
    """The latest alerts sent or tried, newest first (older than the alert `before`, the cursor, if given)."""
    query = select(alerts_sent).order_by(alerts_sent.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(alerts_sent.c.id < before)
    with store.read() as db:
        rows = db.execute(query).mappings()
        return [
            SentAlert(
                row["id"],
                row["channel_id"],
                row["run_id"],
                row["kind"],
                row["shown"],
                row["subject"],
                bool(row["delivered"]),
                row["detail"],
                bool(row["test"]),
                row["sent_at"],
            )
            for row in rows
        ]
