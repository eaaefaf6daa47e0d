"""`segport runs ...`: the history of runs, one run's detail, and the rows it did not send."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from segport.cli.commands import command_group
from segport.cli.common import Json, console, context, number, print_json, shown, when
from segport.limits import LARGEST_INTEGER
from segport.runs.history import list_runs, rows_csv, show_run
from segport.runs.status import Status
from segport.store import Store

app = command_group("Export runs: statuses, counts, events and rows not sent.", no_args_is_help=True)
RunId = Annotated[int, typer.Argument(help="The run's number.", min=1, max=LARGEST_INTEGER)]
STATUS_STYLE = {
    "Successful": "green",
    "Failure": "red",
    "Skipped": "yellow",
    "Canceled": "yellow",
    "Processing": "cyan",
    "Queued": "cyan",
}


@app.command("list")
def list_command(
    ctx: typer.Context,
    export: Annotated[str | None, typer.Option(help="Only this export's runs.")] = None,
    status: Annotated[Status | None, typer.Option(help="Only runs with this status.", case_sensitive=False)] = None,
    before: Annotated[
        int | None, typer.Option(help="Only runs older than this run (to page back).", min=1, max=LARGEST_INTEGER)
    ] = None,
    limit: Annotated[int, typer.Option(help="How many runs, newest first.", min=1, max=LARGEST_INTEGER)] = 50,
    json: Json = False,
) -> None:
    """Runs, newest first, with status and counts."""
    found = list_runs(context(ctx).store, export=export, status=status, before=before, limit=limit)
    if json:
        from segport import outputs

        print_json([outputs.run(view) for view in found])
        return
    table = Table("run", "export", "status", "started", "members", "sent", "not sent", "message")
    for view in found:
        style = STATUS_STYLE.get(view.status, "")
        table.add_row(
            str(view.id),
            shown(view.export),
            f"[{style}]{view.status}[/{style}]",
            when(view.started_at),
            number(view.counts["members"]),
            number(view.counts["sent"]),
            number(view.rows_not_sent),
            shown((view.message or "")[:80]),
        )
    console.print(table)


# `segport exports run`'s exit code for each way a run ends, so cron jobs and CI can tell them apart.
EXIT_CODES = {Status.SUCCESSFUL: 0, Status.FAILURE: 3, Status.SKIPPED: 4, Status.CANCELED: 5}
EXIT_WAITING = 6  # parked: waiting for the daily quota or a reauthorization; it resumes by itself


def exit_code(store: Store, run_id: int) -> int:
    view = show_run(store, run_id=run_id, with_details=False)
    return EXIT_CODES.get(Status(view.status), EXIT_WAITING)


def print_run(store: Store, run_id: int, *, json: bool = False) -> None:
    view = show_run(store, run_id=run_id)
    if json:
        from segport import outputs

        print_json(outputs.run_detail(view))
        return
    style = STATUS_STYLE.get(view.status, "")
    duration = f"{view.duration_seconds:.1f} s" if view.duration_seconds is not None else "-"
    if view.status == Status.QUEUED and view.wait_reason:
        console.print(f"Run {view.id} of {shown(repr(view.export))}: [yellow]waiting[/yellow] ({view.wait_reason})")
        console.print(shown(view.wait_detail))
        return
    console.print(f"Run {view.id} of {shown(repr(view.export))}: [{style}]{view.status}[/{style}] ({duration})")
    if view.status == Status.PROCESSING and view.waiting_text:  # for Constant Contact, or the warehouse
        console.print(f"[yellow]{shown(view.waiting_text)}[/yellow]")
    if view.message:
        console.print(shown(view.message))
        from segport.exports.mirror import needs_mass_removal_approval

        if view.status == Status.FAILURE and needs_mass_removal_approval(view.message):
            console.print(f"On the command line: segport exports run {shown(repr(view.export))} --allow-mass-removal.")
    c = view.counts
    console.print(
        f"members {c['members']:,} | sent {c['sent']:,} (new {c['added']:,}, changed {c['updated']:,}) | "
        f"unchanged {c['unchanged']:,} | removed {c['removed']:,} | invalid email {c['invalid_email']:,} | "
        f"duplicate {c['duplicate']:,} | unusable key {c['unusable_key']:,} | shortened to fit: {c['truncated']:,} | "
        f"cleaned of control characters: {c['cleaned']:,} | "
        f"sent without an unusable mapped value: {c['left_out']:,} | "
        f"not added, unsubscribed {c['unsubscribed']:,} | errors {c['errors']:,}"
    )
    if view.rows_not_sent:
        console.print(f"{view.rows_not_sent:,} rows not sent or not added: segport runs rows {view.id} --csv")


@app.command()
def show(ctx: typer.Context, run_id: RunId, json: Json = False) -> None:
    """One run: status, counts, batches and events."""
    store = context(ctx).store
    print_run(store, run_id, json=json)
    if json:
        return
    view = show_run(store, run_id=run_id)
    if view.batches:
        table = Table("batch", "activity", "contacts", "state", "added", "errors", "unsubscribed")
        for batch in view.batches:
            table.add_row(
                str(batch["number"]),
                shown(batch["activity_id"] or "-"),
                number(batch["contacts"]),
                batch["state"],
                number(batch["person_count"]),
                number(batch["error_count"]),
                number(batch["cannot_add_count"]),
            )
        console.print(table)
    for item in view.events:
        console.print(f"{when(item['at'])} {item['level']:7} {shown(item['message'])}")


@app.command()
def rows(
    ctx: typer.Context,
    run_id: RunId,
    csv: Annotated[bool, typer.Option("--csv", help="Write CSV (profile_key, email, reason, detail).")] = False,
    json: Json = False,
) -> None:
    """The rows a run did not send or Constant Contact did not add, with the reason."""
    from segport.runs.history import iter_rows_not_sent

    store = context(ctx).store
    if csv:
        for chunk in rows_csv(store, run_id=run_id):
            sys.stdout.write(chunk)
        return
    if json:
        from segport import outputs

        found = iter_rows_not_sent(store, run_id=run_id)
        print_json(outputs.Row(profile_key=key, email=mail, reason=why, detail=more) for key, mail, why, more in found)
        return
    table = Table("profile key", "email", "reason", "detail")
    for key, email, reason, detail in iter_rows_not_sent(store, run_id=run_id):
        table.add_row(shown(key), shown(email), reason, shown(detail))
    console.print(table)


@app.command()
def cancel(ctx: typer.Context, run_id: RunId) -> None:
    """Cancel a queued run, or stop a processing one at its next batch (what was sent is recorded)."""
    from segport.runs.queue import cancel as cancel_run

    state = context(ctx)
    outcome = cancel_run(state.store, run_id=run_id, actor=state.actor)
    if outcome == "canceled":
        console.print(f"Run {run_id} was queued; it is Canceled.")
    else:
        console.print(f"Run {run_id} stops at its next batch and ends Canceled; segport runs show {run_id} follows it.")
