"""The command table behind the lazy top level: every entry loads, and its one line is the command's own."""

from __future__ import annotations

import pytest
import typer

from segport.cli import app
from segport.cli.commands import COMMANDS, load


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_entry_loads_and_its_line_is_the_commands_own_help(name: str) -> None:
    command = load(name)
    assert command.name == name
    own = (command.help or "").strip().splitlines()[0]
    assert COMMANDS[name][2] == own, f"segport --help shows {COMMANDS[name][2]!r} for {name}, its help says {own!r}"


def test_the_top_level_lists_every_command_once() -> None:
    group = typer.main.get_group(app)
    with typer.Context(group) as ctx:  # type: ignore[attr-defined]
        names = group.list_commands(ctx)
    assert len(names) == len(set(names))
    assert set(COMMANDS) <= set(names) and {"version", "demo", "db"} <= set(names)


def _groups(group: typer.core.TyperGroup, ctx: typer.Context) -> list[tuple[str, typer.core.TyperGroup]]:
    """Every command group under `group`, loaded, with its command path."""
    found = [(ctx.command_path, group)]
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, typer.core.TyperGroup):
            with typer.Context(command, info_name=name, parent=ctx) as inner:  # type: ignore[attr-defined]
                found.extend(_groups(command, inner))
    return found


def test_every_help_lists_each_command_with_its_whole_first_line() -> None:
    # click cuts a line at about 45 characters and adds "..."; several of segport's are twice that long.
    top = typer.main.get_group(app)
    with typer.Context(top, info_name="segport") as ctx:  # type: ignore[attr-defined]
        groups = _groups(top, ctx)
        assert len(groups) >= 12  # the top level, db, and the ten command modules with their groups
        for path, group in groups:
            with typer.Context(group, info_name=path, parent=ctx) as inner:  # type: ignore[attr-defined]
                shown = " ".join(group.get_help(inner).split("Commands:")[1].split())
                for name in group.list_commands(inner):
                    command = group.get_command(inner, name)
                    # Its first sentence, as click takes it (a command's help may go on after it).
                    sentence = " ".join((command.help or "").strip().split("\n\n")[0].split()).split(". ")[0]
                    assert f"{name} {sentence}" in shown, f"{path} --help cuts the line of {name}: {sentence!r}"
                assert "..." not in shown, path  # the usage line above has its own "[ARGS]..."


def test_no_option_shows_its_python_type_as_a_list() -> None:
    # typer shows a repeatable option as "--segment <list[str]>"; each names what one value is instead.
    top = typer.main.get_group(app)
    with typer.Context(top, info_name="segport") as ctx:  # type: ignore[attr-defined]
        shown = 0
        for path, group in _groups(top, ctx):
            with typer.Context(group, info_name=path, parent=ctx) as inner:  # type: ignore[attr-defined]
                for name in group.list_commands(inner):
                    command = group.get_command(inner, name)
                    with typer.Context(command, info_name=name, parent=inner) as leaf:  # type: ignore[attr-defined]
                        for line in command.get_help(leaf).splitlines():
                            shown += line.lstrip().startswith("--")
                            assert not (line.lstrip().startswith("--") and "<list[" in line), f"{path} {name}: {line}"
        assert shown > 100  # the options of every command were read
