"""Exports: which segments go to which Constant Contact list, through which connection, with which fields."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from segport import audit
from segport.config import Settings
from segport.connections import lists as account_lists
from segport.connections.custom_fields import ensure_custom_fields
from segport.connections.service import client_for, http_session
from segport.errors import InvalidInput, NotFound, Refused
from segport.exports import mapping, sync
from segport.exports.mapping import FieldMapping
from segport.profiles.source import ProfileSource, load_source
from segport.runs import queue
from segport.store import Store
from segport.store.lookup import checked_name, name_of, row_named
from segport.store.tables import connections, export_segments, exports, runs, segments, sync_skipped, sync_state

MODES = ("add", "mirror")

# Exports that may run: a disconnected one (R16) keeps its settings but runs neither by schedule nor on demand.
CONNECTED = exports.c.connection_id.is_not(None)

LIST_ID_HELP = (
    "Pick the list in the export form, or see the account's lists and their IDs with: segport lists. (In Constant "
    "Contact the ID is the last part of a list page's address, after ui#contacts/.)"
)


@dataclass(frozen=True)
class ExportView:
    id: int
    name: str
    connection: str | None  # None: disconnected (R16); it does not run until an edit gives it a connection
    connection_id: int | None
    list_id: str
    list_name: str | None
    email_field: str
    first_name_field: str | None
    last_name_field: str | None
    mode: str
    segments: list[str]
    created_by: str
    created_at: datetime
    updated_at: datetime
    last_status: str | None
    last_run_at: datetime | None
    # Disconnected: whether the connection it had was shared with contributors (its access rules stay).
    contributors_allowed: bool | None = None
    fields: list[FieldMapping] = field(default_factory=list)  # more contact properties (exports/mapping.py)


NO_SEGMENTS = "There are no segments yet: create one."


def _row(connection: Connection, name: str) -> Any:
    return row_named(connection, exports, name, kind="export", create_hint="There are no exports yet: add one.")


def _connection_id(connection: Connection, name: str) -> int:
    row = row_named(
        connection,
        connections,
        name,
        kind="connection",
        create_hint="There are no connections yet: an admin adds one (signing in to Constant Contact).",
    )
    return int(row["id"])


def _segment_ids(connection: Connection, names: list[str]) -> list[int]:
    if not names:
        raise InvalidInput(
            "An export needs at least one segment.", hint="Choose one or more segments.", field="segments"
        )
    return [
        int(row_named(connection, segments, name, kind="segment", create_hint=NO_SEGMENTS)["id"])
        for name in dict.fromkeys(names)
    ]


def _check_mode(mode: str) -> str:
    if mode not in MODES:
        raise InvalidInput(
            f"{mode!r} is not an export mode.",
            hint="Use add (add and update, never remove) or mirror (also remove who left the segments).",
        )
    return mode


def check_fields(
    source: ProfileSource, email_field: str, first_name_field: str | None, last_name_field: str | None
) -> None:
    """The email, first and last name fields are profile fields, the email a text one: when an export is saved,
    and when it runs (a file imported since, when allowed to, or a warehouse's table, may lack them)."""
    names = [field.name for field in source.fields]
    for role, value in (("email", email_field), ("first name", first_name_field), ("last name", last_name_field)):
        if value is None:
            continue
        field = source.field(value)
        if field is None:
            raise InvalidInput(
                f"The {role} field {value!r} is not a profile field.",
                hint=f"The profile fields are: {', '.join(names)}.",
                field=f"{role.replace(' ', '_')}_field",
            )
        if role == "email" and field.type != "text":
            texts = [candidate.name for candidate in source.fields if candidate.type == "text"]
            raise InvalidInput(
                f"The field {value!r} holds {field.type} values, not email addresses.",
                field="email_field",
                hint=f"Choose a text field for the email: {', '.join(texts) or 'the profiles have none'}.",
            )


def _check_list(store: Store, settings: Settings, connection_id: int, list_id: str, http: httpx.Client | None) -> str:
    """The list's name; refuses an ID that is not a UUID or not a list of the connected account."""
    if not list_id:
        raise InvalidInput("No Constant Contact list was chosen.", hint=LIST_ID_HELP, field="list_id")
    try:
        if str(uuid.UUID(list_id)) != list_id.lower() or len(list_id) != 36:
            raise ValueError
    except ValueError:
        raise InvalidInput(
            f"{list_id!r} is not a Constant Contact list ID (a UUID such as 04fe9a97-a579-43c5-bb1a-58ed29bf0a6a).",
            hint=LIST_ID_HELP,
            field="list_id",
        ) from None
    with http_session(settings, http) as session:
        client = client_for(store, settings, session, connection_id)
        try:
            return client.get_list(list_id).name
        except NotFound:
            connection = _connection_name(store, connection_id)
            found = account_lists.account_lists(store, settings, connection=connection, http=session)
            raise InvalidInput(
                f"The connected Constant Contact account has no list {list_id}.",
                hint=account_lists.lists_hint(found, connection),
                field="list_id",
            ) from None


def _check_custom_fields(
    store: Store,
    settings: Settings,
    connection: str,
    fields: Sequence[FieldMapping],
    create: bool,
    http: httpx.Client | None,
) -> None:
    names = [item.custom_name for item in fields if item.custom_name]
    ensure_custom_fields(store, settings, connection=connection, names=names, create=create, http=http)


def _connection_name(store: Store, connection_id: int) -> str:
    with store.begin() as db:
        return str(db.execute(select(connections.c.name).where(connections.c.id == connection_id)).scalar_one())


def check_list(
    store: Store, settings: Settings, *, connection: str, list_id: str, http: httpx.Client | None = None
) -> str:
    """The name of the list `list_id` in the connection's account (refuses a malformed or unknown ID)."""
    with store.begin() as db:
        connection_id = _connection_id(db, connection)
    return _check_list(store, settings, connection_id, list_id.strip(), http)


def add_export(
    store: Store,
    settings: Settings,
    *,
    name: str,
    connection: str,
    list_id: str,
    email_field: str,
    segment_names: list[str],
    actor: str,
    first_name_field: str | None = None,
    last_name_field: str | None = None,
    mode: str = "add",
    fields: Sequence[FieldMapping] = (),
    create_custom_fields: bool = False,
    http: httpx.Client | None = None,
) -> ExportView:
    """Save an export (it does not run it)."""
    _check_mode(mode)
    name = checked_name(name, kind="export")
    list_id = list_id.strip()
    with store.begin() as db:
        connection_id = _connection_id(db, connection)
        segment_ids = _segment_ids(db, segment_names)
    source = load_source(store)
    check_fields(source, email_field, first_name_field, last_name_field)
    fields = mapping.check(source, fields)
    list_name = _check_list(store, settings, connection_id, list_id, http)
    _check_custom_fields(store, settings, connection, fields, create_custom_fields, http)
    now = datetime.now(UTC)
    try:
        with store.begin() as db:
            export_id = db.execute(
                insert(exports).values(
                    name=name,
                    connection_id=connection_id,
                    list_id=list_id.lower(),
                    list_name=list_name,
                    email_field=email_field,
                    first_name_field=first_name_field,
                    last_name_field=last_name_field,
                    mode=mode,
                    created_by=actor,
                    created_at=now,
                    updated_at=now,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            db.execute(insert(export_segments), [{"export_id": export_id, "segment_id": s} for s in segment_ids])
            mapping.save(db, export_id, fields)
            audit.record(
                db,
                actor,
                "export.created",
                name,
                list_id=list_id.lower(),
                segments=segment_names,
                mode=mode,
                fields=mapping.describe_all(fields),
            )
    except IntegrityError:
        raise Refused(f"An export named {name!r} already exists.", hint="Choose another name.") from None
    return show_export(store, name=name)


def edit_export(
    store: Store,
    settings: Settings,
    *,
    name: str,
    new_name: str | None = None,
    connection: str | None = None,
    list_id: str | None = None,
    email_field: str | None = None,
    first_name_field: str | None = None,
    last_name_field: str | None = None,
    segment_names: list[str] | None = None,
    clear_first_name: bool = False,
    clear_last_name: bool = False,
    mode: str | None = None,
    fields: Sequence[FieldMapping] | None = None,
    create_custom_fields: bool = False,
    actor: str,
    http: httpx.Client | None = None,
) -> ExportView:
    """Change an export; `fields` (when given) replaces its field mapping, an empty one clears it."""
    current = show_export(store, name=name)
    changes: dict[str, Any] = {"mode": _check_mode(mode) if mode else current.mode}
    with store.begin() as db:
        connection_id = _connection_id(db, connection) if connection else current.connection_id
        segment_ids = _segment_ids(db, segment_names) if segment_names is not None else None
    email = email_field or current.email_field
    first = None if clear_first_name else (first_name_field or current.first_name_field)
    last = None if clear_last_name else (last_name_field or current.last_name_field)
    source = load_source(store)
    check_fields(source, email, first, last)
    new_fields = mapping.check(source, fields) if fields is not None else current.fields
    if list_id or connection:
        target = (list_id or current.list_id).strip()
        if connection_id is None:
            raise InvalidInput(
                f"The export {name!r} has no connection to check the list ID with.",
                hint="Choose a connection too.",
                field="connection",
            )
        changes["list_name"] = _check_list(store, settings, connection_id, target, http)
        changes["list_id"] = target.lower()
    if connection_id is not None and (fields is not None or connection):
        checked_with = connection or current.connection
        assert checked_with is not None
        _check_custom_fields(store, settings, checked_with, new_fields, create_custom_fields, http)
    changes.update(
        name=checked_name(new_name, kind="export") if new_name is not None else name,
        connection_id=connection_id,
        # Connected again: the connection's own rules apply; still disconnected: the ones it kept.
        contributors_allowed=None if connection_id is not None else current.contributors_allowed,
        email_field=email,
        first_name_field=first,
        last_name_field=last,
        updated_at=datetime.now(UTC),
    )
    moved = changes.get("list_id", current.list_id) != current.list_id or connection_id != current.connection_id
    try:
        with store.begin() as db:
            if moved:
                _check_no_run_in_progress(db, current.id, name)
            db.execute(update(exports).where(exports.c.id == current.id).values(**changes))
            if changes.get("list_id", current.list_id) != current.list_id:
                # What was sent to the old list says nothing about the new one: start over there.
                db.execute(delete(sync_state).where(sync_state.c.export_id == current.id))
                db.execute(delete(sync_skipped).where(sync_skipped.c.export_id == current.id))
                db.execute(
                    update(exports)
                    .where(exports.c.id == current.id)
                    .values(synced_version=None, synced_fingerprint=None)
                )
            if changes.get("list_id", current.list_id) != current.list_id or connection_id != current.connection_id:
                # Another list or account: its opt-outs are read whole again by the next run.
                db.execute(update(exports).where(exports.c.id == current.id).values(opt_outs_read_at=None))
            if segment_ids is not None:
                db.execute(delete(export_segments).where(export_segments.c.export_id == current.id))
                db.execute(insert(export_segments), [{"export_id": current.id, "segment_id": s} for s in segment_ids])
            if fields is not None:
                mapping.save(db, current.id, new_fields)
            changed = {key: value for key, value in changes.items() if key != "updated_at"}
            if fields is not None:
                changed["fields"] = mapping.describe_all(new_fields)
            audit.record(db, actor, "export.changed", name, **changed, segments=segment_names)
    except IntegrityError:
        raise Refused(f"An export named {new_name!r} already exists.", hint="Choose another name.") from None
    return show_export(store, name=changes["name"])


def duplicate_export(store: Store, *, name: str, new_name: str, actor: str) -> ExportView:
    """A new export with the same settings (R37); it does not run."""
    original = show_export(store, name=name)
    new_name = checked_name(new_name, kind="export")
    now = datetime.now(UTC)
    try:
        with store.begin() as db:
            export_id = db.execute(
                insert(exports).values(
                    name=new_name,
                    connection_id=original.connection_id,
                    contributors_allowed=original.contributors_allowed,
                    list_id=original.list_id,
                    list_name=original.list_name,
                    email_field=original.email_field,
                    first_name_field=original.first_name_field,
                    last_name_field=original.last_name_field,
                    mode=original.mode,
                    created_by=actor,
                    created_at=now,
                    updated_at=now,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            ids = _segment_ids(db, original.segments)
            db.execute(insert(export_segments), [{"export_id": export_id, "segment_id": s} for s in ids])
            mapping.save(db, export_id, original.fields)
            audit.record(db, actor, "export.duplicated", new_name, original=name)
    except IntegrityError:
        raise Refused(f"An export named {new_name!r} already exists.", hint="Choose another name.") from None
    return show_export(store, name=new_name)


def remove_export(store: Store, *, name: str, actor: str) -> None:
    with store.begin() as db:
        row = _row(db, name)
        # On PostgreSQL a run queued meanwhile (its insert takes a share lock on this row) would be missed by the
        # check below and deleted with the export: the lock makes the check see it, or makes the enqueue wait
        # and then find the export gone. SQLite's transaction took the write lock already (FOR UPDATE is left out).
        db.execute(select(exports.c.id).where(exports.c.id == row["id"]).with_for_update())
        active = _run_in_progress(db, row["id"])
        if active is not None:
            raise Refused(
                f"The export {name!r} has a run in progress (run {active}).",
                hint="Wait for it to finish, then remove the export.",
            )
        sync.forget_export(db, row["id"])
        db.execute(delete(exports).where(exports.c.id == row["id"]))
        audit.record(db, actor, "export.removed", name)


def show_export(store: Store, *, name: str) -> ExportView:
    with store.read() as db:
        return _views(db, [_row(db, name)])[0]


def list_exports(store: Store) -> list[ExportView]:
    with store.read() as db:
        return _views(db, db.execute(select(exports).order_by(exports.c.name)).mappings().all())


def export_names(store: Store) -> list[str]:
    """Every export's name, in order: one query, for a list that needs no more (the runs page's filter)."""
    with store.read() as db:
        return list(db.execute(select(exports.c.name).order_by(exports.c.name)).scalars())


def search_exports(store: Store, search: str | None) -> list[ExportView]:
    """Exports whose name, connection name or connection type (Constant Contact) contains `search`."""
    found = list_exports(store)
    needle = (search or "").strip().lower()
    if not needle:
        return found
    return [
        view
        for view in found
        if needle in view.name.lower()
        or needle in (view.connection or "").lower()
        or (view.connection is not None and needle in "constant contact")
    ]


def connection_of(export: ExportView) -> int:
    """The export's connection id, or a refusal that says how to give it one."""
    if export.connection_id is None:
        raise queue.not_connected(export.name)
    return export.connection_id


def disconnect_exports(store: Store, *, names: list[str], actor: str) -> list[str]:
    """Take the exports off their connection so it can be removed (R16); they are kept but do not run.

    All or nothing: a run in progress on any of them refuses the lot."""
    disconnected = []
    with store.begin() as db:
        for name in dict.fromkeys(names):
            row = _row(db, name)
            if row["connection_id"] is None:
                continue
            active = _run_in_progress(db, row["id"])
            if active is not None:
                raise Refused(
                    f"The export {name!r} has a run in progress (run {active}); nothing was disconnected.",
                    hint="Wait for it to finish (or cancel it), then disconnect again.",
                )
            connection_name, shared = db.execute(
                select(connections.c.name, connections.c.allow_contributors).where(
                    connections.c.id == row["connection_id"]
                )
            ).one()
            db.execute(
                update(exports)
                .where(exports.c.id == row["id"])
                .values(connection_id=None, contributors_allowed=bool(shared), updated_at=datetime.now(UTC))
            )
            audit.record(db, actor, "export.disconnected", name, connection=connection_name)
            disconnected.append(name)
    return disconnected


def _check_no_run_in_progress(db: Connection, export_id: int, name: str) -> None:
    """Another list or account while a run is at work: the run goes on sending to the list it started with and
    then records what it sent in the sync state, which the change has just emptied for the new list, so the
    next run took those members for sent there (the new list stayed empty of them). Refused instead."""
    # Locked as remove_export does: on PostgreSQL a run queued meanwhile is seen, or its enqueue waits.
    db.execute(select(exports.c.id).where(exports.c.id == export_id).with_for_update())
    active = _run_in_progress(db, export_id)
    if active is not None:
        raise Refused(
            f"The export {name!r} has a run in progress (run {active}): its list and connection cannot change under "
            "it. Nothing was changed.",
            hint="Wait for the run to finish (or cancel it), then change them.",
        )


def _run_in_progress(db: Connection, export_id: int) -> int | None:
    """The export's run that is Queued or Processing, if any (as queue.UNFINISHED, which imports this module)."""
    return db.execute(
        select(runs.c.id).where(runs.c.export_id == export_id, runs.c.status.in_(("Queued", "Processing")))
    ).scalar()


def _views(db: Connection, rows: Sequence[Any]) -> list[ExportView]:
    """Views of `rows`, with three queries in all (not three per export: the list page shows every export)."""
    ids = [row["id"] for row in rows]
    connection_names: dict[int, str] = dict(db.execute(select(connections.c.id, connections.c.name)).all())
    segment_names: dict[int, list[str]] = {}
    for export_id, segment_name in db.execute(
        select(export_segments.c.export_id, segments.c.name)
        .join(segments, export_segments.c.segment_id == segments.c.id)
        .where(export_segments.c.export_id.in_(ids))
        .order_by(segments.c.name)
    ):
        segment_names.setdefault(export_id, []).append(segment_name)
    mappings = mapping.load_all(db, ids)
    latest = select(func.max(runs.c.id)).where(runs.c.export_id.in_(ids)).group_by(runs.c.export_id)
    last_runs = {
        export_id: (status, created_at)
        for export_id, status, created_at in db.execute(
            select(runs.c.export_id, runs.c.status, runs.c.created_at).where(runs.c.id.in_(latest))
        )
    }
    return [
        _view(
            row,
            connection_names.get(row["connection_id"]),
            segment_names.get(row["id"], []),
            last_runs.get(row["id"]),
            mappings.get(row["id"], []),
        )
        for row in rows
    ]


def _view(
    row: Any,
    connection_name: str | None,
    segment_names: list[str],
    last: tuple[str, datetime] | None,
    fields: list[FieldMapping],
) -> ExportView:
    return ExportView(
        row["id"],
        row["name"],
        connection_name,
        row["connection_id"],
        row["list_id"],
        row["list_name"],
        row["email_field"],
        row["first_name_field"],
        row["last_name_field"],
        row["mode"],
        list(segment_names),
        row["created_by"],
        row["created_at"],
        row["updated_at"],
        last[0] if last else None,
        last[1] if last else None,
        row["contributors_allowed"],
        fields,
    )


def export_name(store: Store, *, export_id: int) -> str:
    """The name of the export with this id (its routes take either)."""
    with store.read() as db:
        return name_of(db, exports, export_id, kind="export")
