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
