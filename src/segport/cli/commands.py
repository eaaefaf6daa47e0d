"""The command table, and the group that imports a command's module only when that command runs.

`segport --help` lists every command from the table's one-line helps without importing a command module;
a test checks that each line is the first line of the command's own help, so the two cannot drift apart.

The help is click's plain text, not typer's boxes: typer draws those with a module that imports rich's Markdown
and traceback renderers, 45 ms of the 140 ms `segport --help` took, for a look and nothing more.
"""

from __future__ import annotations

import importlib
from typing import Any

import typer
import typer.core
import typer.main

# name: (module, attribute, one-line help). The attribute is a Typer (a command group) or a function (one
# command). The order is the order of `segport --help`.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "audit": (
        "segport.cli.users",
        "audit",
        "The audit trail: every change, consent and run request, who made it and when.",
    ),
    "emulator": (
        "segport.cli.emulator",
        "emulator",
        "Run the Constant Contact emulator (V3 API, OAuth server, inspection API) on a port.",
    ),
    "worker": (
        "segport.cli.scheduling",
        "worker",
        "Claim queued runs and refreshes and work them until SIGTERM (which hands the current run back).",
    ),
    "scheduler": (
        "segport.cli.scheduling",
        "scheduler",
        "Queue the work of the schedules as it falls due, until SIGTERM (run as many as you like).",
    ),
    "serve": (
        "segport.cli.scheduling",
        "serve",
        "The API, the scheduler and worker(s) in one process: the embedded default's way to run segport.",
    ),
    "profiles": ("segport.cli.profiles", "app", "Load and describe the unified customer profiles."),
    "segments": ("segport.cli.segments", "app", "Define segments over the profile fields."),
    "connections": ("segport.cli.connections", "app", "Connections to Constant Contact accounts."),
    "lists": ("segport.cli.lists", "app", "The contact lists of a connection's Constant Contact account."),
    "exports": ("segport.cli.exports", "app", "Exports of segments to Constant Contact lists."),
    "runs": ("segport.cli.runs", "app", "Export runs: statuses, counts, events and rows not sent."),
    "alerts": (
        "segport.cli.alerts",
        "app",
        "Alerts by email, chat (Slack format) or webhook, per connection or export.",
    ),
    "schedule": ("segport.cli.scheduling", "app", "The system refresh schedule."),
    "users": ("segport.cli.users", "app", "Users, their roles and API tokens."),
}


class PlainGroup(typer.core.TyperGroup):
    """A command group whose help lists each command with its whole first line, wrapped to the terminal's width
    (click cuts it at about 45 characters and adds "...")."""

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=WHOLE_LINE)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


WHOLE_LINE = 1_000
# Help wider than click's 80 columns when the terminal is: a command's line then takes one row, not two.
WIDEST_HELP = 120


def command_group(help: str, cls: type[PlainGroup] = PlainGroup, **options: Any) -> typer.Typer:
    """A group of commands (segport's own, or one of its command modules'), its help in plain text."""
    return typer.Typer(help=help, rich_markup_mode=None, cls=cls, **options)


def load(name: str) -> Any:
    """The click command behind a table entry, its module imported now."""
    module_name, attribute, _ = COMMANDS[name]
    found = getattr(importlib.import_module(module_name), attribute)
    if isinstance(found, typer.Typer):
        group = typer.main.get_group(found)
        group.name = name
        return group
    single = typer.Typer(rich_markup_mode=None)
    single.command(name)(found)
    return typer.main.get_command(single)  # a Typer of one command and no callback is that command


class LazyGroup(PlainGroup):
    """segport's top level: the commands defined beside it, then the table's, each loaded when it is used."""

    _describing = False

    def list_commands(self, ctx: Any) -> list[str]:
        defined = [name for name in super().list_commands(ctx) if name not in COMMANDS]
        return [*COMMANDS, *defined]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        if self._describing:  # listing the commands in the help: their one line is enough
            return typer.core.TyperGroup(name=cmd_name, help=COMMANDS[cmd_name][2])
        if cmd_name not in self.commands:
            self.commands[cmd_name] = load(cmd_name)
        return self.commands[cmd_name]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._describing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._describing = False
