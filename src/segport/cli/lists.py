"""`segport lists ...`: the contact lists of a connection's Constant Contact account (find, show, create)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from segport.cli.commands import command_group
from segport.cli.common import Json, console, context, number, print_json, shown
from segport.connections import lists as account_lists

app = command_group(
    "The contact lists of a connection's Constant Contact account.",
    invoke_without_command=True,
)

Connection = Annotated[
    str | None, typer.Option("--connection", "-c", help="The connection (needed when there are several).")
]


@app.callback()
def every_list(
    ctx: typer.Context,
    connection: Connection = None,
    search: Annotated[str, typer.Option(help="Only lists whose name holds this text (any case).")] = "",
    json: Json = False,
) -> None:
    """Every list of the account, with its members and the exports that send to it."""
    if ctx.invoked_subcommand is not None:
        return
    state = context(ctx)
    name = account_lists.connection_or_only(state.store, connection)
    found = account_lists.account_lists(state.store, state.settings, connection=name, search=search)
    if json:
        from segport import outputs

        print_json([outputs.AccountList.model_validate(item) for item in found])
        return
    table = Table("name", "list ID", "members", "exports", title=f"Lists of {shown(repr(name))}")
    for item in found:
        sending = shown(", ".join(item.exports)) or "-"
        table.add_row(shown(item.name), shown(item.list_id), number(item.members), sending)
    console.print(table)
    console.print(f"{len(found):,} list(s)" + (f" whose name holds {shown(repr(search))}" if search else "") + ".")


@app.command()
def show(
    ctx: typer.Context,
    list_ref: Annotated[str, typer.Argument(metavar="LIST", help="The list's ID or exact name.")],
    connection: Connection = None,
    json: Json = False,
) -> None:
    """One list: its ID, members, and the exports that send to it."""
    state = context(ctx)
    name = account_lists.connection_or_only(state.store, connection)
    item = account_lists.find_list(state.store, state.settings, connection=name, list_ref=list_ref)
    if json:
        from segport import outputs

        print_json(outputs.AccountList.model_validate(item))
        return
    console.print(f"[bold]{shown(item.name)}[/bold]")
    console.print(f"List ID: {shown(item.list_id)}")
    console.print(f"Members: {number(item.members)}")
    console.print(f"Exports sending to it: {shown(', '.join(item.exports)) or 'none'}")


@app.command()
def create(
    ctx: typer.Context,
    list_name: Annotated[str, typer.Argument(metavar="NAME", help="The new list's name (unique in the account).")],
    connection: Connection = None,
) -> None:
    """Create a list in the account (refused when the name is taken or the account has 1,000 lists)."""
    state = context(ctx)
    name = account_lists.connection_or_only(state.store, connection)
    item = account_lists.create_list(state.store, state.settings, connection=name, name=list_name, actor=state.actor)
    console.print(f"Created the list {item.name!r} in {name!r}: list ID {item.list_id}")
