"""The `segport` command. Thin: parse options, call a service function, print the outcome.

Each command group lives in its own module, imported only when one of its commands runs: `segport --help`
or `segport runs list` does not pay for the exporter, the scheduler and the web app (see `commands.py`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from segport import __version__
from segport.cli.commands import WIDEST_HELP, LazyGroup, command_group
from segport.cli.common import Context, console, context, errors, failing
from segport.errors import ConfigurationError, InvalidInput, Refused, SegportError, UnknownName
from segport.limits import is_storable_text

app = command_group(
    "Keep Constant Contact contact lists in step with customer segments.",
    LazyGroup,
    name="segport",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"max_content_width": WIDEST_HELP},
)
db_app = command_group("The database.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _print_version(asked: bool) -> None:
    if asked:
        console.print(f"segport {__version__}")
        raise typer.Exit()


@app.callback()
def options(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option("--version", help="Print segport's version and exit.", callback=_print_version, is_eager=True),
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="A settings file (TOML); the environment's SEGPORT_* variables still win. Else SEGPORT_CONFIG.",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Keep Constant Contact contact lists in step with customer segments."""
    ctx.obj = Context(config_file=config)


@app.command()
def version() -> None:
    """Print segport's version."""
    console.print(__version__)


@db_app.command()
def upgrade(ctx: typer.Context) -> None:
    """Apply the database migrations (segport also does it on start)."""
    store = context(ctx).store
    console.print(f"The database is up to date ({store.dialect}).")


@app.command()
def demo(
    keep: Annotated[
        Path | None,
        typer.Option(help="Keep the demo's data in this directory (else a temporary one is removed at the end)."),
    ] = None,
) -> None:
    """The whole job on a fresh data directory against the built-in emulator: no account needed."""
    from segport.demo import run_demo

    run_demo(console.print, keep)


def main() -> None:
    """Run the CLI; segport's own errors become a message and a hint, never a traceback."""
    try:
        _check_arguments()
        result = app(standalone_mode=False)
    except (InvalidInput, UnknownName, Refused, ConfigurationError) as exc:
        _fail(exc, 2)
    except SegportError as exc:
        _fail(exc, 1)
    except typer.Abort:
        resume = " An interrupted export run resumes where it stopped: segport exports run NAME" if failing.runs else ""
        errors.print(f"Aborted.{resume}")
        sys.exit(130)
    except typer.Exit as exc:  # --version, or a command that chose its exit code
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:  # a usage mistake (typer carries its own click since 0.26)
        show = getattr(exc, "show", None)
        if show is None:
            errors.print(Text(exc.format_message(), style="red"))
        else:
            show()
        sys.exit(exc.exit_code)
    except Exception as exc:
        _unexpected(exc)
    if isinstance(result, int):
        sys.exit(result)


def _check_arguments() -> None:
    """Refuse an argument the shell passed as bytes that are not UTF-8: Python keeps them as surrogates, which no
    store can write (a segment named so failed unexpectedly with UnicodeEncodeError)."""
    for argument in sys.argv[1:]:
        if not is_storable_text(argument):
            shown = argument.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            raise InvalidInput(
                f"The argument '{shown}' is not UTF-8 text.",
                hint="Type it again with the terminal set to UTF-8 (LANG=C.UTF-8, for instance).",
            )


def _unexpected(exc: Exception) -> None:
    """Database trouble in words, or a segport defect: one line here, the traceback in a file."""
    from segport.cli import failures

    # Only a command that opened the store can fail in the database, and then SQLAlchemy is imported.
    database = sys.modules.get("sqlalchemy.exc")
    if database is not None and isinstance(exc, database.SQLAlchemyError):
        message, hint = failures.database_trouble(exc, runs=failing.runs, home=failing.home)
        _fail(SegportError(message, hint=hint), 1)
    report = failures.write_report(exc, failing.home)
    _fail(SegportError(f"segport failed unexpectedly ({type(exc).__name__}).", hint=f"The report is in {report}."), 1)


def _fail(exc: SegportError, code: int) -> None:
    from segport.cli.fixes import on_the_command_line

    errors.print(Text(exc.message, style="red"))
    if exc.hint:
        errors.print(Text(exc.hint))
    fix = on_the_command_line(exc.field)
    if fix:
        errors.print(Text(fix))
    sys.exit(code)
