"""segport wired to an in-process emulator: settings, store (SQLite or PostgreSQL), a connection, profiles."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from segport.config import Settings
from segport.connections import service as connections
from segport.connections.sign_in import sign_in_with
from segport.constant_contact import OAuthClient, TokenSet
from segport.emulator import Emulator
from segport.emulator.serve import settings_for_emulator
from segport.profiles.generator import write_profiles
from segport.profiles.importer import import_profiles
from segport.store import Store, open_store

POSTGRESQL_ENV = "SEGPORT_TEST_DATABASE_URL"


def postgresql_url() -> str | None:
    return os.environ.get(POSTGRESQL_ENV)


def reset_postgresql(url: str) -> None:
    """An empty database for the next test: the public schema dropped and made again."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def make_settings(home: Path, base_url: str, database_url: str | None, **overrides: object) -> Settings:
    return settings_for_emulator(base_url, home=home, user="tester", database_url=database_url, **overrides)


@dataclass
class App:
    settings: Settings
    store: Store
    emulator: Emulator
    http: httpx.Client
    opened: list[Store] = field(default_factory=list)  # every store to close when the test ends

    def sign_in(self, oauth: OAuthClient, http: httpx.Client) -> TokenSet:
        quick = self.settings.model_copy(update={"sign_in_timeout_seconds": 2.0})
        return sign_in_with(quick, announce=lambda _text: None, open_browser=False)(oauth, http)

    def connect(self, name: str = "CC", *, allow_contributors: bool = False) -> connections.ConnectionView:
        return connections.add_connection(
            self.store,
            self.settings,
            name=name,
            allow_contributors=allow_contributors,
            agreed=True,
            actor="tester",
            sign_in=self.sign_in,
            http=self.http,
        )

    def load_profiles(self, directory: Path, count: int, seed: int = 7) -> Path:
        path = directory / f"profiles-{count}-{seed}.csv"
        write_profiles(path, count, seed)
        import_profiles(self.store, path, key="Customer ID", actor="tester")
        return path

    def reopen(self, **overrides: object) -> App:
        settings = self.settings.model_copy(update=overrides)
        store = open_store(settings)
        self.opened.append(store)
        return App(settings, store, self.emulator, self.http, self.opened)


def build_app(
    home: Path, base_url: str, emulator: Emulator, http: httpx.Client, database_url: str | None, **overrides: object
) -> Iterator[App]:
    if database_url:
        reset_postgresql(database_url)
    settings = make_settings(home, base_url, database_url, **overrides)
    store = open_store(settings)
    opened = [store]
    try:
        yield App(settings, store, emulator, http, opened)
    finally:
        for each in opened:
            each.close()
