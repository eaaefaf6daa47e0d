"""`segport alerts ...`: where runs' outcomes are told (email, chat, webhook), tests, and the alerts sent."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from segport.alerting import channels
from segport.alerting.delivery import send_test
from segport.cli.commands import command_group
from segport.cli.common import Json, console, context, print_json, shown, when
from segport.errors import InvalidInput
from segport.limits import LARGEST_INTEGER

app = command_group("Alerts by email, chat (Slack format) or webhook, per connection or export.", no_args_is_help=True)
ChannelId = Annotated[int, typer.Argument(help="The alert's number (segport alerts list).", min=1, max=LARGEST_INTEGER)]


@app.command("list")
def list_channels(ctx: typer.Context, json: Json = False) -> None:
    """Every alert channel: what it is for, where it goes, which runs."""
    found = channels.list_channels(context(ctx).store)
    if json:
        from segport import outputs

        print_json([outputs.Channel.model_validate(channel) for channel in found])
        return
    table = Table("#", "for", "kind", "to", "runs", "added")
    for channel in found:
        table.add_row(
            str(channel.id),
            shown(channel.scope),
            channels.KINDS[channel.kind],
            shown(channel.shown),
            channels.WHEN[channel.runs],
            f"{when(channel.created_at)} by {shown(channel.created_by)}",
        )
    console.print(table)


@app.command()
def add(
    ctx: typer.Context,
    connection: Annotated[str | None, typer.Option(help="For every export of this connection.")] = None,
    export: Annotated[str | None, typer.Option(help="For this export.")] = None,
    email: Annotated[str | None, typer.Option(help="Email addresses, comma-separated (needs SEGPORT_SMTP_*).")] = None,
    chat: Annotated[
        str | None, typer.Option(help="A chat webhook URL in Slack's format (Slack, Mattermost...).")
    ] = None,
    webhook: Annotated[str | None, typer.Option(help="A URL that receives the run's summary as JSON.")] = None,
    every_run: Annotated[
        bool, typer.Option("--every-run", help="Every finished run, not only failures, skipped runs and alerts.")
    ] = False,
) -> None:
    """Send runs' outcomes somewhere people read them."""
    given = {kind: value for kind, value in (("email", email), ("chat", chat), ("webhook", webhook)) if value}
    if len(given) != 1:
        raise InvalidInput("Say where the alerts go, once.", hint="Pass one of --email, --chat or --webhook.")
    [(kind, target)] = given.items()
    state = context(ctx)
    channel = channels.add_channel(
        state.store,
        kind=kind,
        target=target,
        actor=state.actor,
        connection=connection,
        export=export,
        runs="every" if every_run else "problems",
    )
    console.print(
        f"Alert {channel.id} added: {channels.KINDS[kind].lower()} to {shown(channel.shown)} for the "
        f"{escape(channel.scope)}. Try it with: segport alerts test {channel.id}"
    )


@app.command()
def test(ctx: typer.Context, channel_id: ChannelId) -> None:
    """Send a test message now."""
    state = context(ctx)
    problem = send_test(state.store, state.settings, channel_id)
    if problem is not None:
        console.print(f"[red]The test was not delivered:[/red] {escape(problem)}")
        raise typer.Exit(3)
    console.print(f"Test sent to {escape(channels.show_channel(state.store, channel_id).shown)}.")


@app.command()
def remove(ctx: typer.Context, channel_id: ChannelId) -> None:
    """Stop sending alerts there."""
    state = context(ctx)
    channels.remove_channel(state.store, channel_id, actor=state.actor)
    console.print(f"Alert {channel_id} removed.")


@app.command()
def sent(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 50,
    before: Annotated[
        int | None, typer.Option(help="Only alerts older than this id (to page back).", min=1, max=LARGEST_INTEGER)
    ] = None,
    json: Json = False,
) -> None:
    """The alerts sent or tried, newest first (tests included)."""
    found = channels.list_sent(context(ctx).store, limit=limit, before=before)
    if json:
        from segport import outputs

        print_json([outputs.SentAlert.model_validate(item) for item in found])
        return
    table = Table("when", "kind", "to", "subject", "run", "outcome")
    for item in found:
        outcome = "delivered" if item.delivered else f"[red]not delivered[/red]: {escape(item.detail or '')}"
        table.add_row(
            when(item.sent_at),
            item.kind,
            escape(item.shown),
            escape(item.subject) + (" (test)" if item.test else ""),
            str(item.run_id or "-"),
            outcome,
        )
    console.print(table)
