"""`segport schedule ...`, `segport worker`, `segport scheduler` and `segport serve`."""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from segport.cli.commands import command_group
from segport.cli.common import Json, console, context, failing, print_json, when
from segport.errors import InvalidInput
from segport.limits import LARGEST_INTEGER
from segport.scheduling.calendar import Schedule, make_schedule
from segport.scheduling.refreshes import list_refreshes, refresh_now
from segport.scheduling.service import export_schedules, set_system_schedule, show_system_schedule
from segport.store import Store

if TYPE_CHECKING:
    from segport.config import Settings

app = command_group("The system refresh schedule.", no_args_is_help=True)

Times = Annotated[
    list[str] | None, typer.Option("--time", metavar="<HH:MM>", help="A time of day, HH:MM (repeat for several).")
]
Days = Annotated[
    list[str] | None, typer.Option("--day", metavar="<day>", help="Weekly: a day, mon ... sun (repeat for several).")
]
Zone = Annotated[str, typer.Option("--timezone", help="An IANA time zone, e.g. America/Toronto.")]


def schedule_from(
    daily: bool, weekly: bool, cron: str | None, times: list[str] | None, days: list[str] | None, timezone: str
) -> Schedule:
    """One of --daily, --weekly or --cron, checked."""
    chosen = [kind for kind, on in (("daily", daily), ("weekly", weekly), ("cron", cron is not None)) if on]
    if len(chosen) != 1:
        raise InvalidInput("Say how often: one of --daily, --weekly or --cron.", hint="e.g. --daily --time 06:00")
    return make_schedule(kind=chosen[0], times=times, days=days, cron=cron, timezone=timezone)


@app.command()
def show(ctx: typer.Context, json: Json = False) -> None:
    """The system refresh schedule and when each export runs next (in UTC and in the schedule's zone)."""
    store = context(ctx).store
    system = show_system_schedule(store)
    if json:
        from segport import outputs

        items = [outputs.export_schedule(item) for item in export_schedules(store)]
        print_json(outputs.Schedules(system=system, exports=items))
        return
    console.print(f"System refresh: {system.describe() if system else 'off'}")
    table = Table("export", "runs", "schedule", "next run (UTC)", "next run (local)")
    for item in export_schedules(store):
        how = {"refresh": "with the refresh", "own": "own schedule", "off": "off"}[item.mode]
        local = (
            item.next_at.astimezone(item.schedule.zone).strftime("%Y-%m-%d %H:%M %Z")
            if item.next_at and item.schedule
            else "-"
        )
        table.add_row(
            item.export,
            how,
            item.schedule.describe() if item.schedule else "-",
            item.next_at.strftime("%Y-%m-%d %H:%M") if item.next_at else "-",
            local,
        )
    console.print(table)


@app.command("set")
def set_command(
    ctx: typer.Context,
    daily: Annotated[bool, typer.Option("--daily", help="Every day at the --time(s).")] = False,
    weekly: Annotated[bool, typer.Option("--weekly", help="On the --day(s) at the --time(s).")] = False,
    cron: Annotated[str | None, typer.Option("--cron", help="A cron expression instead.")] = None,
    time: Times = None,
    day: Days = None,
    timezone: Zone = "UTC",
) -> None:
    """Turn the system refresh on: segments are evaluated, then every export that follows it runs."""
    state = context(ctx)
    schedule = schedule_from(daily, weekly, cron, time, day, timezone)
    set_system_schedule(state.store, schedule, actor=state.actor)
    console.print(f"System refresh: {schedule.describe()}. `segport serve` (or scheduler + worker) runs it.")


@app.command()
def off(ctx: typer.Context) -> None:
    """Turn the system refresh off (exports with their own schedule keep it)."""
    state = context(ctx)
    set_system_schedule(state.store, None, actor=state.actor)
    console.print("System refresh: off.")


@app.command("refresh")
def refresh_command(ctx: typer.Context) -> None:
    """Queue a system refresh now: a worker (segport serve or segport worker) evaluates the segments, then
    queues the exports that follow the refresh."""
    state = context(ctx)
    refresh_id, joined = refresh_now(state.store, actor=state.actor)
    if joined:
        console.print(f"Refresh {refresh_id} is already queued or in progress; it covers this request.")
    else:
        console.print(f"Queued refresh {refresh_id}; a worker works it. See: segport schedule refreshes")


@app.command()
def refreshes(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=LARGEST_INTEGER, help="How many, newest first.")] = 20,
    json: Json = False,
) -> None:
    """The latest system refreshes: when, how they were started, status, and what each did."""
    found = list_refreshes(context(ctx).store, limit=limit)
    if json:
        from segport import outputs

        print_json([outputs.Refresh.model_validate(view) for view in found])
        return
    table = Table("refresh", "trigger", "queued", "status", "took", "message")
    for view in found:
        took = f"{view.duration_seconds:.1f} s" if view.duration_seconds is not None else ""
        table.add_row(str(view.id), view.trigger, when(view.created_at), view.status, took, view.message or "")
    console.print(table)


def _stop_on_signals(stop: threading.Event | None = None) -> threading.Event:
    stop = stop or threading.Event()

    def handle(number: int, _frame: object) -> None:
        console.print(f"{signal.Signals(number).name}: finishing the current batch, then stopping.")
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stop


def _logging(settings: Settings) -> None:
    from segport.logs import configure

    configure(settings)


def worker(ctx: typer.Context) -> None:
    """Claim queued runs and refreshes and work them until SIGTERM (which hands the current run back)."""
    from segport.scheduling.worker import run_worker

    state = context(ctx)
    _logging(state.settings)
    failing.runs = True
    run_worker(state.store, state.settings, _stop_on_signals())


def scheduler(ctx: typer.Context) -> None:
    """Queue the work of the schedules as it falls due, until SIGTERM (run as many as you like)."""
    from segport.scheduling.scheduler import run_scheduler

    state = context(ctx)
    _logging(state.settings)
    run_scheduler(state.store, state.settings, _stop_on_signals())


def serve(
    ctx: typer.Context,
    workers: Annotated[int, typer.Option(help="Worker threads in this process (0: none).", min=0)] = 1,
    with_scheduler: Annotated[bool, typer.Option("--scheduler/--no-scheduler", help="Run the scheduler.")] = True,
    api: Annotated[bool, typer.Option("--api/--no-api", help="Serve the REST API (OpenAPI at /docs).")] = True,
    host: Annotated[str, typer.Option(help="The API's address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="The API's port.", min=1, max=65535)] = 8787,
) -> None:
    """The API, the scheduler and worker(s) in one process: the embedded default's way to run segport."""
    from segport.scheduling.scheduler import run_scheduler
    from segport.scheduling.worker import run_worker

    state = context(ctx)
    _logging(state.settings)
    failing.runs = workers > 0
    if api:
        _first_admin(state.store)
    stop = threading.Event()
    threads = [
        threading.Thread(target=run_worker, args=(state.store, state.settings, stop), name=f"worker-{n}")
        for n in range(workers)
    ]
    if with_scheduler:
        threads.append(
            threading.Thread(target=run_scheduler, args=(state.store, state.settings, stop), name="scheduler")
        )
    for thread in threads:
        thread.start()
    parts = f"{workers} worker(s)" + (" and the scheduler" if with_scheduler else "")
    try:
        if api:
            import uvicorn

            from segport.api.access_log import log_config
            from segport.logs import uvicorn_config
            from segport.server.app import create_app

            console.print(
                f"segport serve: {parts}; web UI and API on http://{host}:{port} (OpenAPI: /docs). Ctrl-C stops."
            )
            # uvicorn handles SIGINT/SIGTERM itself and returns when asked to stop.
            uvicorn.run(
                create_app(state.settings, state.store),
                host=host,
                port=port,
                log_level="info",
                log_config=uvicorn_config(state.settings, log_config()),
            )
        else:
            _stop_on_signals(stop)
            console.print(f"segport serve: {parts}, started {datetime.now(UTC):%H:%M:%S} UTC; Ctrl-C stops.")
            while not stop.is_set():
                stop.wait(0.5)
    finally:
        stop.set()  # workers finish or hand back their batch, then stop
        for thread in threads:
            thread.join()


def _first_admin(store: Store) -> None:
    """On the very first start there is nobody to sign in with: make the admin `admin`, with a password for
    the web UI and an API token, both shown once."""
    import secrets

    from segport.users import service as users

    found = users.list_users(store)
    if found:
        # Users from before passwords existed can use their tokens but not the web UI; nothing else tells them.
        locked_out = [user.name for user in found if not user.has_password]
        if locked_out:
            console.print(
                f"{len(locked_out)} user(s) cannot sign in to the web UI until an admin sets a password: "
                f"{', '.join(locked_out[:10])}{' ...' if len(locked_out) > 10 else ''}. "
                "Set one with: segport users password NAME",
                soft_wrap=True,
            )
        return
    password = secrets.token_urlsafe(12)
    users.add_user(store, name="admin", role="admin", actor="segport serve", password=password)
    issued, plain = users.issue_token(store, name="admin", label="first start", actor="segport serve")
    console.print(
        "First start: made the user 'admin' (role admin). Shown once, keep them safe:\n"
        f"  web UI password: {password}   (change it: segport users password admin)\n"
        f"  API token {issued.id}: {plain}",
        soft_wrap=True,
    )
