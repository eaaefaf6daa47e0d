"""`segport exports ...`: configure exports (segments -> a Constant Contact list) and run them."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from segport.cli.commands import command_group
from segport.cli.common import Json, console, context, failing, print_json, shown, when
from segport.cli.runs import exit_code, print_run
from segport.cli.scheduling import Days, Times, Zone, schedule_from
from segport.errors import InvalidInput
from segport.exports import mapping, service
from segport.exports.mapping import FieldMapping
from segport.exports.properties import MAX_CUSTOM_PER_ACCOUNT, PROPERTIES

if TYPE_CHECKING:  # running an export, its progress bars and the account's custom fields load when used
    from rich.progress import Progress, TaskID

    from segport.exports.dry_run import DryRun

app = command_group("Exports of segments to Constant Contact lists.", no_args_is_help=True)
Name = Annotated[str, typer.Argument(help="The export's name.")]
Fields = Annotated[
    list[str] | None,
    typer.Option(
        metavar="<field=property>",
        help="Send a profile field as a contact property: PROFILE_FIELD=PROPERTY, e.g. title=job_title or "
        "tier=cf:loyalty_tier; repeat for more (segport exports properties lists them).",
    ),
]
SendEmpty = Annotated[
    list[str] | None,
    typer.Option(
        metavar="<property>",
        help="A mapped PROPERTY whose empty values are sent too, which clears it in Constant Contact (by default "
        "an empty value is left out and the contact keeps what it has); repeat for more.",
    ),
]
CreateCustomFields = Annotated[
    bool, typer.Option(help="Create the mapped custom fields the Constant Contact account does not have.")
]
MODE_MEANING = {"add": "adds and updates, never removes", "mirror": "also removes who left the segments"}


def _mappings(specs: list[str] | None, send_empty: list[str] | None) -> list[FieldMapping] | None:
    if not specs:
        if send_empty:
            raise InvalidInput("--send-empty names a property that no --field maps.", hint="Map it with --field.")
        return None
    found = [mapping.parse(spec, send_empty or ()) for spec in specs]
    unmapped = set(send_empty or ()) - {item.target for item in found}
    if unmapped:
        raise InvalidInput(
            f"--send-empty {', '.join(sorted(unmapped))}: no --field maps it.",
            hint="Pass --send-empty with a PROPERTY that a --field maps.",
        )
    return found


@app.command()
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="A name for the export.")],
    connection: Annotated[str, typer.Option(help="The Constant Contact connection to use.")],
    list_id: Annotated[str, typer.Option(help="The Constant Contact list ID (segport lists shows them).")],
    email_field: Annotated[str, typer.Option(help="The profile field that holds the email address.")],
    segment: Annotated[list[str], typer.Option(metavar="<segment>", help="A segment to export; repeat for more.")],
    first_name_field: Annotated[str | None, typer.Option(help="The profile field with the first name.")] = None,
    last_name_field: Annotated[str | None, typer.Option(help="The profile field with the last name.")] = None,
    mode: Annotated[
        str, typer.Option(help="add: add and update, never remove; mirror: also remove who left the segments.")
    ] = "add",
    field: Fields = None,
    send_empty: SendEmpty = None,
    create_custom_fields: CreateCustomFields = False,
) -> None:
    """Save a new export. Saving does not run it."""
    state = context(ctx)
    view = service.add_export(
        state.store,
        state.settings,
        name=name,
        connection=connection,
        list_id=list_id,
        email_field=email_field,
        segment_names=segment,
        actor=state.actor,
        first_name_field=first_name_field,
        last_name_field=last_name_field,
        mode=mode,
        fields=_mappings(field, send_empty) or (),
        create_custom_fields=create_custom_fields,
    )
    console.print(
        f"Saved export {view.name!r} ({view.mode} mode) -> list {view.list_name!r} ({view.list_id}). "
        f"Run it with: segport exports run {view.name!r}"
    )


@app.command()
def edit(
    ctx: typer.Context,
    name: Name,
    new_name: Annotated[str | None, typer.Option("--name", help="A new name.")] = None,
    connection: Annotated[str | None, typer.Option(help="Another connection.")] = None,
    list_id: Annotated[str | None, typer.Option(help="Another list ID.")] = None,
    email_field: Annotated[str | None, typer.Option(help="Another email field.")] = None,
    first_name_field: Annotated[str | None, typer.Option(help="The first name field.")] = None,
    last_name_field: Annotated[str | None, typer.Option(help="The last name field.")] = None,
    no_first_name: Annotated[bool, typer.Option("--no-first-name", help="Stop sending first names.")] = False,
    no_last_name: Annotated[bool, typer.Option("--no-last-name", help="Stop sending last names.")] = False,
    segment: Annotated[
        list[str] | None, typer.Option(metavar="<segment>", help="Replace the segments; repeat for more.")
    ] = None,
    mode: Annotated[str | None, typer.Option(help="add or mirror.")] = None,
    field: Annotated[
        list[str] | None,
        typer.Option(
            metavar="<field=property>", help="Replace the field mapping: PROFILE_FIELD=PROPERTY; repeat for more."
        ),
    ] = None,
    send_empty: SendEmpty = None,
    no_fields: Annotated[bool, typer.Option("--no-fields", help="Stop sending mapped fields.")] = False,
    create_custom_fields: CreateCustomFields = False,
) -> None:
    """Change an export's settings."""
    state = context(ctx)
    if no_fields and field:
        raise InvalidInput("--no-fields and --field contradict each other.", hint="Pass one of them.")
    view = service.edit_export(
        state.store,
        state.settings,
        name=name,
        actor=state.actor,
        new_name=new_name,
        connection=connection,
        list_id=list_id,
        email_field=email_field,
        first_name_field=first_name_field,
        last_name_field=last_name_field,
        segment_names=segment,
        clear_first_name=no_first_name,
        clear_last_name=no_last_name,
        mode=mode,
        fields=[] if no_fields else _mappings(field, send_empty),
        create_custom_fields=create_custom_fields,
    )
    console.print(f"Saved export {view.name!r} ({view.mode} mode).")


@app.command()
def duplicate(
    ctx: typer.Context, name: Name, new_name: Annotated[str, typer.Option("--name", help="The new export's name.")]
) -> None:
    """Create a new export with the same settings (it does not run)."""
    state = context(ctx)
    view = service.duplicate_export(state.store, name=name, new_name=new_name, actor=state.actor)
    console.print(f"Saved export {view.name!r}, a copy of {name!r}.")


@app.command("list")
def list_exports(ctx: typer.Context, json: Json = False) -> None:
    """Every export with its connection, list, segments and latest run."""
    found = service.list_exports(context(ctx).store)
    if json:
        from segport import outputs

        print_json([outputs.export(view) for view in found])
        return
    table = Table("name", "connection", "list", "segments", "latest run", "when")
    for view in found:
        table.add_row(
            shown(view.name),
            shown(view.connection) or "(disconnected)",
            shown(view.list_name or view.list_id),
            shown(", ".join(view.segments)),
            view.last_status or "never run",
            when(view.last_run_at),
        )
    console.print(table)


@app.command()
def show(ctx: typer.Context, name: Name, json: Json = False) -> None:
    """An export's settings."""
    view = service.show_export(context(ctx).store, name=name)
    if json:
        from segport import outputs

        print_json(outputs.export(view))
        return
    console.print(f"[bold]{shown(view.name)}[/bold]")
    for label, value in (
        ("Connection", view.connection or "none: disconnected, it does not run until edited with --connection"),
        ("List", f"{view.list_name} ({view.list_id})"),
        ("Email field", view.email_field),
        ("First name field", view.first_name_field or "-"),
        ("Last name field", view.last_name_field or "-"),
        ("More fields", ", ".join(mapping.describe_all(view.fields)) or "-"),
        ("Mode", f"{view.mode}: {MODE_MEANING[view.mode]}"),
        ("Segments", ", ".join(view.segments)),
        ("Created", f"{when(view.created_at)} by {view.created_by}"),
        ("Latest run", f"{view.last_status or 'never run'} {when(view.last_run_at)}"),
    ):
        console.print(f"{label}: {shown(value)}")


@app.command()
def properties(
    ctx: typer.Context,
    connection: Annotated[
        str | None,
        typer.Option("--connection", "-c", help="Also list this connection's custom fields (cf:NAME)."),
    ] = None,
    json: Annotated[
        bool, typer.Option("--json", help="Print JSON: the properties, then the connection's custom fields.")
    ] = False,
) -> None:
    """The contact properties a --field can fill, with their limits, and a connection's custom fields."""
    from segport.connections.custom_fields import custom_fields

    if json:
        from segport import outputs

        found = custom_fields(context(ctx).store, context(ctx).settings, connection=connection) if connection else []
        print_json(outputs.contact_properties(found))
        return
    table = Table("property", "what", "takes")
    for name, item in PROPERTIES.items():
        takes = {"month": "1-12 or a date", "day": "1-31 or a date", "date": "a date (YYYY-MM-DD)"}
        table.add_row(name, item.label, takes.get(item.kind, f"text, at most {item.max_length} characters"))
    console.print(table)
    if connection is None:
        console.print("Custom fields: cf:NAME (text, at most 255 characters); --connection NAME lists the account's.")
        return
    state = context(ctx)
    found = custom_fields(state.store, state.settings, connection=connection)
    fields = Table("property", "label", "type", title=f"Custom fields of {connection!r}")
    for custom in found:
        fields.add_row(f"cf:{custom.name}", custom.label, custom.type)
    console.print(fields)
    console.print(f"{len(found):,} of at most {MAX_CUSTOM_PER_ACCOUNT} custom fields.")


@app.command()
def disconnect(
    ctx: typer.Context,
    names: Annotated[list[str], typer.Argument(help="The exports to take off their connection.", show_default=False)],
) -> None:
    """Take exports off their connection so it can be removed; they are kept, and run again once an edit
    gives them a connection (--connection)."""
    done = service.disconnect_exports(context(ctx).store, names=names, actor=context(ctx).actor)
    for name in names:
        console.print(f"Disconnected export {name!r}." if name in done else f"Export {name!r} had no connection.")


@app.command()
def remove(ctx: typer.Context, name: Name) -> None:
    """Remove an export (its run history goes with it)."""
    service.remove_export(context(ctx).store, name=name, actor=context(ctx).actor)
    console.print(f"Removed export {name!r}.")


class _Display:
    """Members read, batches sent and activities finished, as rich progress bars."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.members: TaskID | None = None
        self.activities: TaskID | None = None
        self.wait: TaskID | None = None

    def started(self, run_id: int, members: int) -> None:
        self.members = self.progress.add_task(f"run {run_id}: members read", total=members or None)

    def advanced(self, members_read: int, batches_sent: int) -> None:
        if self.members is not None:
            self.progress.update(
                self.members, completed=members_read, description=f"members read, {batches_sent} batches sent"
            )

    def polling(self, finished: int, total: int) -> None:
        if self.activities is None:
            self.activities = self.progress.add_task("activities finished", total=total)
        self.progress.update(self.activities, completed=finished, total=total)

    def waiting(self, detail: str | None) -> None:
        if detail is None:
            if self.wait is not None:
                self.progress.remove_task(self.wait)
                self.wait = None
            return
        text = f"[yellow]waiting for {escape(detail)}[/yellow]"  # detail: "Constant Contact: ...", or the warehouse
        if self.wait is None:
            self.wait = self.progress.add_task(text, total=None)
        else:
            self.progress.update(self.wait, description=text)


@app.command()
def run(
    ctx: typer.Context,
    name: Name,
    full: Annotated[bool, typer.Option("--full", help="Send every member, not only the new and changed ones.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what a run would do; send nothing.")] = False,
    show_rows: Annotated[
        bool, typer.Option("--show-rows", help="With --dry-run: print every row as it is decided (tab-separated).")
    ] = False,
    allow_mass_removal: Annotated[
        bool, typer.Option("--allow-mass-removal", help="Mirror mode: allow removing more than the set share.")
    ] = False,
    json: Annotated[
        bool, typer.Option("--json", help="Print the run (or the dry run) as JSON at the end; no progress bars.")
    ] = False,
) -> int:
    """Run the export now (or resume its interrupted run), with progress, then print the summary.

    Exit code: 0 Successful, 3 Failure, 4 Skipped, 5 Canceled, 6 waiting (for the daily quota, or for the
    connection to be reauthorized: the run resumes by itself then)."""
    state = context(ctx)
    if dry_run:
        from segport.exports.dry_run import dry_run as plan_run

        if show_rows and json:
            raise InvalidInput("--show-rows and --json both print to stdout.", hint="Choose one of them.")
        if show_rows:
            _write_line(("action", "profile_key", "email", "reason"))
        on_row = (lambda row: _write_line((row.action, row.profile_key, row.email, row.reason))) if show_rows else None
        report = plan_run(state.store, state.settings, name=name, full=full, on_row=on_row)
        if json:
            from segport import outputs

            print_json(outputs.dry_run(report))
        else:
            _print_dry_run(report, samples=not show_rows)
        return 0
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from segport.exports import launch

    failing.runs = True

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=json,
    ) as progress:
        run_id = launch.run_export(
            state.store,
            state.settings,
            name=name,
            actor=state.actor,
            full=full,
            allow_mass_removal=allow_mass_removal,
            progress=_Display(progress),
        )
    print_run(state.store, run_id, json=json)
    return exit_code(state.store, run_id)


def _write_line(values: tuple[str, ...]) -> None:
    """One row of --show-rows, written at once (a rich table would hold every row until the end). Tabs and line
    breaks inside a value are escaped, so each row stays one line of tab-separated values."""
    escaped = (value.encode("unicode_escape").decode("ascii") if not value.isprintable() else value for value in values)
    sys.stdout.write("\t".join(escaped) + "\n")


def _print_dry_run(report: DryRun, *, samples: bool = True) -> None:
    kind = "full" if report.full else "incremental"
    console.print(f"Dry run of {report.export!r} ({report.mode} mode, {kind}); nothing was sent.")
    console.print(
        f"members {report.members:,} | would add {report.add:,} | would update {report.update:,} | "
        f"would remove {report.remove:,} | unchanged {report.unchanged:,} | "
        f"would skip {sum(report.skip.values()):,}"
    )
    for reason, count in sorted(report.skip.items()):
        console.print(f"  skip, {reason.replace('_', ' ')}: {count:,}")
    if report.message:
        console.print(report.message)
    if samples and report.samples:
        table = Table("action", "profile key", "email", "reason", title="Some rows (--show-rows prints them all)")
        for rows in report.samples.values():
            for row in rows[:3]:
                table.add_row(row.action, escape(row.profile_key), escape(row.email), escape(row.reason))
        console.print(table)


@app.command()
def schedule(
    ctx: typer.Context,
    names: Annotated[list[str], typer.Argument(help="The export(s); several get the same change.", show_default=False)],
    follow_refresh: Annotated[bool, typer.Option("--follow-refresh", help="Run with the system refresh.")] = False,
    off: Annotated[bool, typer.Option("--off", help="Never run by itself (on demand only).")] = False,
    on: Annotated[bool, typer.Option("--on", help="Turn each one's schedule back on, as it was before --off.")] = False,
    daily: Annotated[bool, typer.Option("--daily", help="Its own schedule: every day at the --time(s).")] = False,
    weekly: Annotated[
        bool, typer.Option("--weekly", help="Its own schedule: on the --day(s) at the --time(s).")
    ] = False,
    cron: Annotated[str | None, typer.Option("--cron", help="Its own schedule as a cron expression.")] = None,
    time: Times = None,
    day: Days = None,
    timezone: Zone = "UTC",
) -> None:
    """When exports run by themselves: with the system refresh (the default), their own schedule, or never.
    --off keeps each one's own schedule, so --on brings it back."""
    from segport.scheduling.service import schedule_exports

    store, actor = context(ctx).store, context(ctx).actor
    chosen = [flag for flag, given in (("--follow-refresh", follow_refresh), ("--off", off), ("--on", on)) if given]
    if len(chosen) > 1:
        raise InvalidInput(f"{' and '.join(chosen)} contradict each other.", hint="Pass one of them.")
    if on or off:
        items = schedule_exports(store, names=names, enable=on, actor=actor)
    elif follow_refresh:
        items = schedule_exports(store, names=names, mode="refresh", actor=actor)
    else:
        items = schedule_exports(
            store,
            names=names,
            mode="own",
            actor=actor,
            schedule=schedule_from(daily, weekly, cron, time, day, timezone),
        )
    for item in items:
        how = item.schedule.describe() if item.schedule else "not by itself (the system refresh is off)"
        if item.mode == "off":
            how = "only on demand"
        nxt = f"; next run {item.next_at:%Y-%m-%d %H:%M} UTC" if item.next_at else ""
        console.print(f"{item.export!r} runs {how}{nxt}.")


@app.command("run-all")
def run_all_command(ctx: typer.Context, json: Json = False) -> None:
    """Queue every export that has an active schedule; `segport serve` or a worker runs them."""
    from segport.scheduling.service import run_all

    state = context(ctx)
    queued = run_all(state.store, actor=state.actor)
    if json:
        from segport import outputs

        print_json(outputs.ExportRunQueued(export=name, run_id=run, joined=joined) for name, run, joined in queued)
        return
    if not queued:
        console.print("No export has an active schedule (its own, or the system refresh): nothing was queued.")
    for export_name, run_id, joined in queued:
        console.print(f"{export_name}: {'joined' if joined else 'queued'} run {run_id}")
