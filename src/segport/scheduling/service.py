"""Setting schedules (the system refresh, each export's own), and running every scheduled export now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select, update

from segport import audit
from segport.errors import InvalidInput
from segport.exports.service import show_export
from segport.runs import queue
from segport.scheduling.calendar import Schedule, next_fire
from segport.store import Store
from segport.store.tables import exports, system_schedule

EXPORT_MODES = ("refresh", "own", "off")


@dataclass(frozen=True)
class ExportSchedule:
    export: str
    mode: str  # refresh | own | off
    schedule: Schedule | None  # the export's own, or the system refresh it follows (None: it does not run)
    next_at: datetime | None

    @property
    def active(self) -> bool:
        return self.schedule is not None


def show_system_schedule(store: Store) -> Schedule | None:
    with store.read() as db:
        spec = db.execute(select(system_schedule.c.spec).where(system_schedule.c.id == 1)).scalar()
    return Schedule.model_validate_json(spec) if spec else None


def set_system_schedule(store: Store, schedule: Schedule | None, *, actor: str) -> None:
    """Set the system refresh schedule, or turn it off (None)."""
    with store.begin() as db:
        db.execute(delete(system_schedule))
        db.execute(
            insert(system_schedule).values(
                id=1,
                spec=schedule.model_dump_json() if schedule else None,
                updated_by=actor,
                updated_at=datetime.now(UTC),
            )
        )
        described = schedule.describe() if schedule else "off"
        audit.record(db, actor, "schedule.changed", "system refresh", schedule=described)


def set_export_schedule(
    store: Store, *, name: str, mode: str, actor: str, schedule: Schedule | None = None
) -> ExportSchedule:
    return schedule_exports(store, names=[name], mode=mode, schedule=schedule, actor=actor)[0]


def schedule_exports(
    store: Store,
    *,
    names: list[str],
    actor: str,
    mode: str | None = None,
    schedule: Schedule | None = None,
    enable: bool | None = None,
) -> list[ExportSchedule]:
    """Schedule several exports at once (R51), all or none: give them one new schedule (`mode`, and
    `schedule` for their own), or keep each one's schedule and only turn them on or off (`enable`).

    Turning one off keeps its own schedule, so turning it on again brings that schedule back (an export
    that followed the refresh follows it again)."""
    if (mode is None) == (enable is None):
        raise InvalidInput(
            "Choose one: a new schedule for the exports, or turning their own schedules on or off.",
            hint="Pass a mode (refresh, own with its schedule, off), or enable true/false; not both, not neither.",
        )
    if mode is not None:
        if mode not in EXPORT_MODES:
            raise InvalidInput(f"{mode!r} is not a schedule mode.", hint=f"Use one of: {', '.join(EXPORT_MODES)}.")
        if (mode == "own") != (schedule is not None):
            raise InvalidInput(
                "An export's own schedule needs its times (and only it does).",
                hint="Give a daily or weekly schedule with its times (and days), or a cron expression.",
                field="schedule",
            )
    if not names:
        raise InvalidInput("No export was chosen.", hint="Choose the exports to schedule.")
    ids = {name: show_export(store, name=name).id for name in dict.fromkeys(names)}
    with store.begin() as db:
        for name, export_id in ids.items():
            current_mode, spec = db.execute(
                select(exports.c.schedule_mode, exports.c.schedule_spec).where(exports.c.id == export_id)
            ).one()
            if enable is None:
                new_mode = mode
                new_spec = schedule.model_dump_json() if schedule else (spec if mode == "off" else None)
            elif enable:
                new_mode = current_mode if current_mode != "off" else ("own" if spec else "refresh")
                new_spec = spec
            else:
                new_mode, new_spec = "off", spec
            db.execute(
                update(exports).where(exports.c.id == export_id).values(schedule_mode=new_mode, schedule_spec=new_spec)
            )
            described = Schedule.model_validate_json(new_spec).describe() if new_mode == "own" and new_spec else None
            audit.record(db, actor, "export.schedule_changed", name, mode=new_mode, schedule=described)
    return schedules_of(store, list(ids))


def schedules_of(store: Store, names: list[str]) -> list[ExportSchedule]:
    """These exports' schedules, in this order, read once for all of them (a missing name: KeyError)."""
    by_name = {item.export: item for item in export_schedules(store)}
    return [by_name[name] for name in names]


def export_schedules(store: Store, *, name: str | None = None, now: datetime | None = None) -> list[ExportSchedule]:
    """Every export's schedule (or one's) and when it next runs by itself."""
    system = show_system_schedule(store)
    moment = now or datetime.now(UTC)
    query = select(exports.c.name, exports.c.schedule_mode, exports.c.schedule_spec, exports.c.connection_id).order_by(
        exports.c.name
    )
    if name is not None:
        show_export(store, name=name)  # a clear refusal for an unknown name
        query = query.where(exports.c.name == name)
    with store.read() as db:
        rows = db.execute(query).all()
    found = []
    for row in rows:
        schedule = None
        if row.connection_id is None:
            pass  # disconnected: it keeps its settings but does not run by itself (R16)
        elif row.schedule_mode == "own" and row.schedule_spec:
            schedule = Schedule.model_validate_json(row.schedule_spec)
        elif row.schedule_mode == "refresh":
            schedule = system
        found.append(
            ExportSchedule(row.name, row.schedule_mode, schedule, next_fire(schedule, moment) if schedule else None)
        )
    return found


def run_all(store: Store, *, actor: str) -> list[tuple[str, int, bool]]:
    """Queue every export that has an active schedule (as the original's "Run all"): (name, run id, joined)."""
    queued = []
    for item in export_schedules(store):
        if item.active:
            export = show_export(store, name=item.export)
            run_id, joined = queue.enqueue(store, export.id, trigger="manual", actor=actor)
            queued.append((item.export, run_id, joined))
    return queued
