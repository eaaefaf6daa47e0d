"""`segport users ...` and `segport audit`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from segport import audit as audit_trail
from segport.cli.commands import command_group
from segport.cli.common import Json, console, context, print_json, shown, when
from segport.limits import LARGEST_INTEGER
from segport.users import service

app = command_group("Users, their roles and API tokens.", no_args_is_help=True)
Name = Annotated[str, typer.Argument(help="The user's name.")]
PasswordFromInput = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input (for scripts).")
]


def _read_password(from_stdin: bool) -> str:
    """From standard input (first line), or asked twice without echo."""
    if from_stdin:
        import sys

        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("Password for the web UI", hide_input=True, confirmation_prompt=True))


@app.command()
def add(
    ctx: typer.Context,
    name: Name,
    role: Annotated[str, typer.Option(help="admin, contributor or viewer.")] = "viewer",
    admin: Annotated[bool, typer.Option("--admin", help="Same as --role admin.")] = False,
    token: Annotated[bool, typer.Option("--token/--no-token", help="Also issue an API token (shown once).")] = True,
    password: Annotated[bool, typer.Option("--password", help="Also set a password for the web UI (asked).")] = False,
    password_stdin: PasswordFromInput = False,
) -> None:
    """Add a user (the first admin: segport users add NAME --admin --password)."""
    state = context(ctx)
    secret = _read_password(password_stdin) if password or password_stdin else None
    user = service.add_user(state.store, name=name, role="admin" if admin else role, actor=state.actor, password=secret)
    console.print(f"Added {user.name!r} ({user.role}).")
    if token:
        issued, plain = service.issue_token(state.store, name=user.name, label="first token", actor=state.actor)
        console.print(f"API token {issued.id} (shown once, keep it safe): {plain}", soft_wrap=True)


@app.command("list")
def list_command(ctx: typer.Context, json: Json = False) -> None:
    """Users and their roles."""
    found = service.list_users(context(ctx).store)
    if json:
        from segport import outputs

        print_json([outputs.User.model_validate(user) for user in found])
        return
    table = Table("user", "role", "added", "web UI")
    for user in found:
        web = "password set" if user.has_password else f"no password: segport users password {shown(user.name)}"
        table.add_row(shown(user.name), user.role, when(user.created_at), web)
    console.print(table)


@app.command()
def remove(ctx: typer.Context, name: Name) -> None:
    """Remove a user and their tokens (not the last admin)."""
    state = context(ctx)
    service.remove_user(state.store, name=name, actor=state.actor)
    console.print(f"Removed {name!r} and their tokens.")


@app.command()
def role(
    ctx: typer.Context,
    name: Name,
    new_role: Annotated[str, typer.Argument(metavar="ROLE", help="admin, contributor or viewer.")],
) -> None:
    """Change a user's role (the last admin stays one)."""
    state = context(ctx)
    user = service.set_role(state.store, name=name, role=new_role, actor=state.actor)
    console.print(f"{user.name!r} is now {user.role}.")


@app.command()
def password(ctx: typer.Context, name: Name, password_stdin: PasswordFromInput = False) -> None:
    """Set the password a user signs in to the web UI with. Their open web sessions end; their API tokens keep
    working (revoke them with `segport users revoke`)."""
    state = context(ctx)
    service.set_password(state.store, name=name, password=_read_password(password_stdin), actor=state.actor)
    console.print(f"Password set for {name!r}; they sign in at {state.settings.api_public_url}.")
    console.print(
        f"Their open web sessions ended. Their API tokens still work: list them with segport users tokens {name!r}, "
        "and revoke any that may be known to someone else with segport users revoke."
    )


@app.command()
def token(
    ctx: typer.Context,
    name: Name,
    label: Annotated[str, typer.Option(help="What the token is for.")] = "token",
) -> None:
    """Issue an API token for the user; it is shown once and stored only as a digest."""
    state = context(ctx)
    issued, plain = service.issue_token(state.store, name=name, label=label, actor=state.actor)
    console.print(f"API token {issued.id} for {name!r} (shown once, keep it safe): {plain}", soft_wrap=True)


@app.command()
def tokens(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Only this user's.")] = None,
    json: Json = False,
) -> None:
    """API tokens (never their values): who, what for, when made, last used, revoked."""
    found = service.list_tokens(context(ctx).store, name=name)
    if json:
        from segport import outputs

        print_json([outputs.Token.model_validate(item) for item in found])
        return
    table = Table("id", "user", "label", "created", "last used", "revoked")
    for item in found:
        table.add_row(
            str(item.id),
            shown(item.user),
            shown(item.label),
            when(item.created_at),
            when(item.last_used_at),
            when(item.revoked_at),
        )
    console.print(table)


@app.command()
def revoke(
    ctx: typer.Context, token_id: Annotated[int, typer.Argument(help="The token's id.", min=1, max=LARGEST_INTEGER)]
) -> None:
    """Revoke an API token: it stops working at once."""
    state = context(ctx)
    service.revoke_token(state.store, token_id=token_id, actor=state.actor)
    console.print(f"Token {token_id} revoked.")


def audit(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="How many entries, newest first.", min=1, max=LARGEST_INTEGER)] = 50,
    action: Annotated[str | None, typer.Option(help="Only actions starting so, e.g. export. or run.queued")] = None,
    subject: Annotated[str | None, typer.Option(help="Only entries about this name.")] = None,
    before: Annotated[
        int | None, typer.Option(help="Only entries older than this id (to page back).", min=1, max=LARGEST_INTEGER)
    ] = None,
    json: Json = False,
) -> None:
    """The audit trail: every change, consent and run request, who made it and when."""
    found = audit_trail.entries(context(ctx).store, limit=limit, action=action, subject=subject, before=before)
    if json:
        from segport import outputs

        print_json([outputs.AuditEntry.model_validate(entry) for entry in found])
        return
    table = Table("when", "who", "what", "subject", "detail")
    for entry in found:
        detail = ", ".join(f"{key}={value}" for key, value in (entry.detail or {}).items())
        table.add_row(when(entry.at), shown(entry.actor), entry.action, shown(entry.subject), shown(detail))
    console.print(table)
