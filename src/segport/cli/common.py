"""What every command shares: the consoles, settings built once, the store opened on first use."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

if TYPE_CHECKING:  # the settings and the store are imported by the commands that use them, not by --help
    from segport.config import Settings
    from segport.store import Store

# Into a pipe or a file, lines are not wrapped at 80 columns: a command or a path printed for copying stays
# on one line (tables keep their width).
console = Console(highlight=False, soft_wrap=not sys.stdout.isatty())
errors = Console(stderr=True, highlight=False, soft_wrap=not sys.stderr.isatty())


@dataclass
class Failing:
    """What the answer to a failed command may say, learned as the command goes (main() sees the failure after
    click has let go of the command's context)."""

    runs: bool = False  # the command runs exports (set by them), so an interrupted run may be left to resume
    home: Path | None = None  # the settings' data folder, once they are read: error reports go there


failing = Failing()


@dataclass
class Context:
    config_file: Path | None = None  # segport --config FILE; else SEGPORT_CONFIG names it, if anything does
    _settings: Settings | None = None
    _store: Store | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from segport.config import load_settings

            self._settings = load_settings(config_file=self.config_file)
            failing.home = self._settings.home
        return self._settings

    @property
    def store(self) -> Store:
        if self._store is None:
            from segport.store import open_store

            self._store = open_store(self.settings)
        return self._store

    @property
    def actor(self) -> str:
        return self.settings.actor


def context(ctx: typer.Context) -> Context:
    if not isinstance(ctx.obj, Context):
        ctx.obj = Context()
    return ctx.obj


# Every list, show and run command takes --json: one JSON document on stdout, in the shapes of
# segport/outputs.py (the API's own), documented in docs/json-output.md.
Json = Annotated[bool, typer.Option("--json", help="Print JSON (see docs/json-output.md) instead of text.")]


def print_json(value: Any) -> None:
    """One JSON document: an object (indented), or an array with one object a line, written as it is read
    (a run's million rows never sit in memory). Nothing is written before the first item is in hand, so an
    error (an unknown run) leaves stdout empty rather than half a document."""
    out = sys.stdout.buffer
    if hasattr(value, "model_dump_json"):
        out.write(value.model_dump_json(indent=2).encode() + b"\n")
    else:
        items = iter(value)
        first = next(items, None)
        if first is None:
            out.write(b"[]\n")
        else:
            out.write(b"[\n" + first.model_dump_json().encode())
            for item in items:
                out.write(b",\n" + item.model_dump_json().encode())
            out.write(b"\n]\n")
    out.flush()


def shown(text: str | None) -> str:
    """Text from the store or from Constant Contact, safe on a terminal: control characters escaped (a name
    saved before names were checked, a list named in the account) and rich's markup taken literally."""
    from rich.markup import escape

    if text is None:
        return ""
    return escape("".join(_visible(character) for character in text))


def _visible(character: str) -> str:
    code = ord(character)
    if code < 32 or 127 <= code < 160:
        return f"\\x{code:02x}"
    return character


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def number(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"
