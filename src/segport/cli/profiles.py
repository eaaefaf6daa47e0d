"""`segport profiles ...`: load, connect and describe the customer profiles."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from segport.cli.commands import command_group
from segport.cli.common import Json, console, context, number, print_json, when
from segport.errors import InvalidInput
from segport.profiles import service
from segport.wording import count

app = command_group("Load and describe the unified customer profiles.", no_args_is_help=True)


@app.command("import")
def import_file(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A CSV (UTF-8) or Parquet file, one row per customer.")],
    key: Annotated[str, typer.Option(help="The column that identifies a customer (unique, never empty).")],
    allow_shrink: Annotated[
        bool,
        typer.Option(
            "--allow-shrink",
            help="Allow a file with far fewer profiles than are loaded now, or none.",
        ),
    ] = False,
    allow_breaking: Annotated[
        bool,
        typer.Option(
            "--allow-breaking",
            help="Allow a file that lacks columns (or changes their types, or the key) that active segments or "
            "exports use; they fail until edited.",
        ),
    ] = False,
) -> None:
    """Load profiles from a file into the embedded profile table, replacing the previous ones atomically."""
    state = context(ctx)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("reading", total=None)

        def report(phase: str, done: int, total: int) -> None:
            progress.update(task, description=phase, completed=done, total=total)

        result = service.import_profiles(
            state.store,
            file,
            key=key,
            actor=state.actor,
            progress=report,
            allow_shrink=allow_shrink,
            allow_breaking=allow_breaking,
        )
    console.print(f"Loaded {count(result.rows, 'profile')} from {result.file_name}; key field: {result.key}.")
    _fields_table([(f.name, f.type, f.source_name) for f in result.fields])


@app.command()
def connect(
    ctx: typer.Context,
    url: Annotated[str, typer.Option(help="SQLAlchemy URL of the customer's database, e.g. postgresql://...")],
    table: Annotated[str, typer.Option(help="Table or view holding one row per customer ([schema.]name).")],
    key: Annotated[str, typer.Option(help="The column that identifies a customer.")],
    allow_breaking: Annotated[
        bool,
        typer.Option(
            "--allow-breaking",
            help="Allow a table that lacks columns (or changes their types, or the key) that active segments or "
            "exports use; they fail until edited.",
        ),
    ] = False,
) -> None:
    """Use a table or view in another database as the profile source (segments are evaluated there)."""
    state = context(ctx)
    described = service.connect_external(
        state.store, url=url, table=table, key=key, actor=state.actor, allow_breaking=allow_breaking
    )
    console.print(f"Profiles now come from {described.description} ({number(described.row_count)} rows).")
    _fields_table([(f.name, f.type, f.source_name) for f in described.fields])
    problems = service.key_problems(state.store)
    if problems:
        console.print(Text(problems, style="yellow"))


@app.command()
def show(ctx: typer.Context, json: Json = False) -> None:
    """The profile source: its fields and types, and how many profiles it holds."""
    described = service.describe(context(ctx).store)
    if json:
        from segport import outputs

        print_json(outputs.profile_source(described))
        return
    console.print(f"Source: {described.description}")
    console.print(
        f"Profiles: {number(described.row_count)}   key field: {described.key}   "
        f"loaded: {when(described.loaded_at)} by {described.loaded_by}"
    )
    _fields_table([(f.name, f.type, f.source_name) for f in described.fields])
    if described.problem:
        console.print(Text(described.problem, style="yellow"))


@app.command()
def generate(
    file: Annotated[Path, typer.Argument(help="Where to write the CSV.")],
    count: Annotated[int, typer.Option(help="How many profiles.", min=1)] = 1000,
    seed: Annotated[int, typer.Option(help="The same seed gives the same file.")] = 7,
) -> None:
    """Write sample profiles (accents, non-Latin names, invalid and duplicate emails) to a CSV file."""
    from segport.profiles.generator import write_profiles

    try:
        write_profiles(file, count, seed)
    except OSError as exc:
        raise InvalidInput(
            f"Cannot write {file} ({exc.strerror}).", hint="Choose a path in a folder you can write to."
        ) from None
    console.print(f'Wrote {count:,} profiles to {file} (seed {seed}); the key column is "Customer ID".')


def _fields_table(rows: list[tuple[str, str, str]]) -> None:
    table = Table("field", "type", "column in the source")
    for row in rows:
        table.add_row(*row)
    console.print(table)
