"""`segport segments ...`: define segments over the profiles and look at their members."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from segport import wording
from segport.cli.commands import command_group
from segport.cli.common import Json, console, context, number, print_json, shown, when
from segport.csv_text import csv_chunks
from segport.errors import InvalidInput
from segport.segments import membership, service

app = command_group("Define segments over the profile fields.", no_args_is_help=True)
Name = Annotated[str, typer.Argument(help="The segment's name.")]


@app.command()
def create(
    ctx: typer.Context,
    name: Name,
    rule: Annotated[
        str, typer.Argument(help='e.g. \'country = "CA" and lifetime_value >= 500\', or \'"A" union "B"\'.')
    ],
    description: Annotated[str | None, typer.Option(help="What the segment is for.")] = None,
    inactive: Annotated[bool, typer.Option("--inactive", help="Save as a draft: no members until activated.")] = False,
) -> None:
    """Create a segment from a rule over profile fields, or by combining segments (union, intersect, except)."""
    state = context(ctx)
    segment = service.create_segment(
        state.store, name=name, rule_text=rule, actor=state.actor, description=description, active=not inactive
    )
    members = membership.count_segment(state.store, name=segment.name) if segment.active else 0
    console.print(
        f"Created segment {segment.name!r} ({'active' if segment.active else 'inactive'}): {members:,} members."
    )


@app.command()
def edit(
    ctx: typer.Context,
    name: Name,
    rule: Annotated[str | None, typer.Option(help="The new rule (same syntax as create).")] = None,
    description: Annotated[str | None, typer.Option(help="The new description.")] = None,
    new_name: Annotated[str | None, typer.Option("--name", help="A new name for the segment.")] = None,
) -> None:
    """Rename a segment or change its rule or description; exports using it compare every member on their
    next run when the rule changed."""
    state = context(ctx)
    if rule is None and description is None and new_name is None:
        raise InvalidInput("Nothing to change.", hint="Pass --name, --rule and/or --description.")
    segment = service.edit_segment(
        state.store, name=name, rule_text=rule, description=description, new_name=new_name, actor=state.actor
    )
    members = membership.count_segment(state.store, name=segment.name) if segment.active else 0
    console.print(f"Changed segment {segment.name!r}: {members:,} members.")


@app.command("list")
def list_segments(ctx: typer.Context, json: Json = False) -> None:
    """Every segment with its state and last member count."""
    found = service.list_segments(context(ctx).store)
    if json:
        from segport import outputs

        print_json([outputs.segment(view) for view in found])
        return
    table = Table("name", "active", "members", "counted", "rule")
    for segment in found:
        table.add_row(
            shown(segment.name),
            "yes" if segment.active else "no",
            number(segment.member_count),
            when(segment.counted_at),
            shown(segment.rule_text),
        )
    console.print(table)


@app.command()
def show(ctx: typer.Context, name: Name, json: Json = False) -> None:
    """A segment's rule, state, member count and the exports that use it."""
    segment = service.show_segment(context(ctx).store, name=name)
    if json:
        from segport import outputs

        print_json(outputs.segment(segment))
        return
    console.print(f"[bold]{shown(segment.name)}[/bold]  ({'active' if segment.active else 'inactive'})")
    if segment.description:
        console.print(shown(segment.description))
    console.print(f"Rule: {shown(segment.rule_text)}")
    console.print(f"Members: {number(segment.member_count)} (counted {when(segment.counted_at)})")
    console.print(f"Used by exports: {shown(', '.join(segment.exports)) or 'none'}")
    if segment.used_by_segments:
        console.print(f"Combined into: {shown(', '.join(segment.used_by_segments))}")


@app.command()
def count(ctx: typer.Context, name: Name, json: Json = False) -> None:
    """Count the segment's members now (the database does the counting)."""
    members = membership.count_segment(context(ctx).store, name=name)
    if json:
        from segport import outputs

        print_json(outputs.SegmentCount(name=name, members=members))
        return
    console.print(f"{members:,}")


@app.command()
def preview(ctx: typer.Context, name: Name) -> None:
    """The first 100 members, ordered by key."""
    columns, rows = membership.preview_segment(context(ctx).store, name=name)
    table = Table(*columns)
    for row in rows:
        table.add_row(*("" if value is None else str(value) for value in row))
    console.print(table)
    console.print(f"{len(rows)} shown (at most {membership.PREVIEW_ROWS}).")


@app.command()
def members(
    ctx: typer.Context,
    name: Name,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the CSV to this file instead of the terminal.")
    ] = None,
) -> None:
    """Every member with every profile field, as CSV ordered by key (the preview shows 100)."""
    columns, rows = membership.member_rows(context(ctx).store, name=name)
    if output is None:
        for chunk in csv_chunks(columns, rows, raw=context(ctx).settings.csv_raw):
            sys.stdout.write(chunk)
        return
    written = 0

    def counted() -> Iterator[tuple[object, ...]]:
        nonlocal written
        for row in rows:
            written += 1
            yield row

    try:
        with output.open("w", encoding="utf-8", newline="") as file:
            for chunk in csv_chunks(columns, counted(), raw=context(ctx).settings.csv_raw):
                file.write(chunk)
    except OSError as error:
        raise InvalidInput(
            f"Cannot write {output}: {error.strerror}.", hint="Choose a file in a folder you may write to."
        ) from None
    console.print(f"Wrote {wording.count(written, 'member')} of {name!r} to {output}.")


@app.command()
def history(
    ctx: typer.Context,
    name: Name,
    days: Annotated[
        int | None,
        typer.Option(min=1, max=membership.HISTORY_DAYS, help="Only the last so many days (else all kept)."),
    ] = None,
    json: Json = False,
) -> None:
    """Every recorded count of the segment, oldest first: how its membership moved."""
    since = None if days is None else datetime.now(UTC) - timedelta(days=days)
    counts = membership.count_history(context(ctx).store, name=name, since=since)
    if json:
        from segport import outputs

        print_json([outputs.CountAt(counted_at=moment, members=members) for moment, members in counts])
        return
    table = Table("counted", "members", "change")
    previous: int | None = None
    for moment, members in counts:
        change = "" if previous is None else f"{members - previous:+,}"
        table.add_row(when(moment), f"{members:,}", change)
        previous = members
    console.print(table)


@app.command()
def duplicate(
    ctx: typer.Context,
    name: Name,
    new_name: Annotated[str, typer.Option("--name", help="The copy's name.")],
) -> None:
    """A new segment with the same rule and description."""
    state = context(ctx)
    copy = service.duplicate_segment(state.store, name=name, new_name=new_name, actor=state.actor)
    console.print(f"Created segment {copy.name!r}, a copy of {name!r}.")


@app.command()
def activate(ctx: typer.Context, name: Name) -> None:
    """Include the segment in exports and refreshes again."""
    service.set_active(context(ctx).store, name=name, active=True, actor=context(ctx).actor)
    console.print(f"Segment {name!r} is active.")


@app.command()
def deactivate(ctx: typer.Context, name: Name) -> None:
    """Keep the definition but give it no members (exports leave it out)."""
    service.set_active(context(ctx).store, name=name, active=False, actor=context(ctx).actor)
    console.print(f"Segment {name!r} is inactive.")


@app.command()
def delete(ctx: typer.Context, name: Name) -> None:
    """Delete a segment that no export and no other segment uses."""
    service.delete_segment(context(ctx).store, name=name, actor=context(ctx).actor)
    console.print(f"Deleted segment {name!r}.")
