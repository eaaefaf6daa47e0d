"""What every command shares: the consoles, settings built once, the store opened on first use."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import typer
from rich.console import Console

from segport.config import Settings, load_settings
from segport.store import Store, open_store

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)


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
