"""`segport connections ...`: connect Constant Contact accounts (consent, sign-in) and manage them."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from segport.cli.commands import command_group
from segport.cli.common import Json, console, context, print_json, shown, when
from segport.connections import service
from segport.connections.sign_in import sign_in_with
from segport.errors import InvalidInput

app = command_group("Connections to Constant Contact accounts.", no_args_is_help=True)
add_app = command_group("Add a connection.", no_args_is_help=True)
app.add_typer(add_app, name="add")


@add_app.command("constant-contact")
def add_constant_contact(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="Display name: what the connection is for and where it goes.")],
    allow_contributors: Annotated[
        bool, typer.Option("--allow-contributors", help="Let contributors use it too (default: admins only).")
    ] = False,
    i_agree: Annotated[bool, typer.Option("--i-agree", help="Accept the data privacy and compliance terms.")] = False,
    browser: Annotated[bool, typer.Option(help="Open the sign-in page in a browser.")] = True,
) -> None:
    """Add a Constant Contact connection: who may use it, consent, sign-in, export user."""
    state = context(ctx)
    console.print(service.PRIVACY_TEXT, "\n")
    if not i_agree:
        raise InvalidInput(
            "The data privacy and compliance terms above were not accepted.",
            hint="Run the command again with --i-agree to accept them.",
        )
    view = service.add_connection(
        state.store,
        state.settings,
        name=name,
        allow_contributors=allow_contributors,
        agreed=True,
        actor=state.actor,
        sign_in=sign_in_with(state.settings, announce=console.print, open_browser=browser),
    )
    console.print(
        f"Connected {view.name!r} to the Constant Contact account {view.account_name!r}. "
        f"Export user: {view.export_user}. Consent recorded for {view.consent_by} at {when(view.consent_at)}."
    )


@app.command()
def terms() -> None:
    """Show the data privacy and compliance terms a connection requires."""
    console.print(service.PRIVACY_TEXT)


@app.command("list")
def list_connections(ctx: typer.Context, json: Json = False) -> None:
    """Every connection, with its account and who may use it."""
    found = service.list_connections(context(ctx).store)
    if json:
        from segport import outputs

        print_json([outputs.Connection.model_validate(view) for view in found])
        return
    table = Table("name", "type", "account", "who can use it", "exports")
    for view in found:
        table.add_row(
            shown(view.name),
            "Constant Contact",
            shown(view.account_name) or "-",
            "admins and contributors" if view.allow_contributors else "admins",
            str(len(view.exports)),
        )
    console.print(table)


@app.command()
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The connection's display name.")],
    json: Json = False,
) -> None:
    """A connection's account, consent, export user and token expiry (never the tokens)."""
    view = service.show_connection(context(ctx).store, name=name)
    if json:
        from segport import outputs

        print_json(outputs.Connection.model_validate(view))
        return
    console.print(f"[bold]{shown(view.name)}[/bold] (Constant Contact)")
    for label, value in (
        ("Account", f"{view.account_name} ({view.account_id})"),
        ("API", view.api_base),
        ("Who can use it", "admins and contributors" if view.allow_contributors else "admins"),
        ("Consent", f"{view.consent_by} at {when(view.consent_at)}"),
        ("Export user", view.export_user),
        ("Access token expires", when(view.token_expires_at)),
        ("Exports", ", ".join(view.exports) or "none"),
    ):
        console.print(f"{label}: {shown(value)}")


@app.command()
def reauthorize(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The connection's display name.")],
    browser: Annotated[bool, typer.Option(help="Open the sign-in page in a browser.")] = True,
) -> None:
    """Sign in to Constant Contact again (after its tokens stopped working)."""
    state = context(ctx)
    view = service.reauthorize_connection(
        state.store,
        state.settings,
        name=name,
        actor=state.actor,
        sign_in=sign_in_with(state.settings, announce=console.print, open_browser=browser),
    )
    console.print(f"Reauthorized {view.name!r}; the access token expires {when(view.token_expires_at)}.")


@app.command()
def remove(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The connection's display name.")]) -> None:
    """Remove a connection and delete its stored tokens (refused while exports use it)."""
    service.remove_connection(context(ctx).store, name=name, actor=context(ctx).actor)
    console.print(f"Removed connection {name!r} and its stored tokens.")


@app.command()
def webhook(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The connection's display name.")],
    url: Annotated[str | None, typer.Argument(help="The URL to call (POST, JSON run summary).")] = None,
    off: Annotated[bool, typer.Option("--off", help="Stop calling a webhook for this connection.")] = False,
) -> None:
    """Call a URL when a run of this connection's exports ends Failure or Skipped (SEGPORT_WEBHOOK_URL: all)."""
    from segport.errors import InvalidInput
    from segport.webhook_targets import shown

    if (url is None) == (not off):
        raise InvalidInput(
            "Pass a URL, or --off, not both." if off else "Pass a URL, or --off.",
            hint=f"segport connections webhook {name!r} https://... (or --off to stop calling one)",
        )
    service.set_webhook(context(ctx).store, name=name, url=None if off else url, actor=context(ctx).actor)
    console.print(f"{name!r}: webhook {'off' if off else shown(url or '')}.")
