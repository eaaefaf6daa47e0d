"""What every command shares: the consoles, settings built once, the store opened on first use."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import datetime

import typer
from rich.console import Console

from segport.config import Settings, load_settings
from segport.store import Store, open_store

# Into a pipe or a file, lines are not wrapped at 80 columns: a command or a path printed for copying stays
# on one line (tables keep their width).
console = Console(highlight=False, soft_wrap=not sys.stdout.isatty())
errors = Console(stderr=True, highlight=False, soft_wrap=not sys.stderr.isatty())


@dataclass
class Context:
    settings: Settings = field(default_factory=load_settings)
    _store: Store | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.settings)
        return self._store

    @property
    def actor(self) -> str:
        return self.settings.actor


def context(ctx: typer.Context) -> Context:
    if not isinstance(ctx.obj, Context):
        ctx.obj = Context()
    return ctx.obj


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def number(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"
