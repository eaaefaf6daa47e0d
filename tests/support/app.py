"""segport wired to an in-process emulator: settings, store (SQLite or PostgreSQL), a connection, profiles."""

from __future__ import annotations

import functools
import os
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from segport.config import Settings
from segport.connections import service as connections
from segport.connections.sign_in import sign_in_with
from segport.constant_contact import OAuthClient, TokenSet
from segport.emulator import Emulator
from segport.emulator.serve import settings_for_emulator
from segport.exports import service as exports
from segport.exports.service import ExportView
from segport.profiles.generator import write_profiles
from segport.profiles.importer import import_profiles
from segport.runs import queue
from segport.segments.service import create_segment
from segport.store import Store, open_store

POSTGRESQL_ENV = "SEGPORT_TEST_DATABASE_URL"
# The live tests' emulated account takes 10 requests a second and segport sends up to 10 (the most its setting
# allows): the same budget arithmetic as at Constant Contact's 4/s, with 2.5 times less waiting. Constant
# Contact's own 4/s is kept where the rate is the subject (the manual-clock harness of test_rate_limits, the
# shared-budget tests, the processes of tests/e2e).
LIVE_REQUESTS_PER_SECOND = 10


# A crashed run leaves its databases behind; the next run drops those older than any run lasts (CI: 90 minutes).
STALE_AFTER_SECONDS = 3 * 3600


def postgresql_url() -> str | None:
    """The PostgreSQL database of this test process, its own: named after the test run and the pytest-xdist
    worker, so two runs on one server (a local run beside CI's) do not reset each other's tables. Dropped when
    the process's tests end (`drop_own_database`)."""
    url = os.environ.get(POSTGRESQL_ENV)
    if url is None:
        return None
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID") or _PROCESS_RUN
    return _own_database(url, run, os.environ.get("PYTEST_XDIST_WORKER") or "main")


_PROCESS_RUN = uuid.uuid4().hex  # a run without workers is one process
_created: list[tuple[str, str]] = []  # (server URL, database) made by this process


def own_database_name(base: str, run: str, worker: str, now: float) -> str:
    """`<base>_<seconds since 1970>_<run>_<worker>`: the time lets a later run tell a crashed run's leftovers."""
    return f"{base}_{int(now)}_{run[:8]}_{worker}"


def stale_databases(names: list[str], base: str, now: float) -> list[str]:
    """The databases named by `own_database_name` for `base` made more than STALE_AFTER_SECONDS before `now`."""
    pattern = re.compile(rf"{re.escape(base)}_(\d{{10}})_[0-9a-f]{{8}}_\w+")
    return [
        name
        for name in names
        if (found := pattern.fullmatch(name)) is not None and now - int(found.group(1)) > STALE_AFTER_SECONDS
    ]


@functools.cache
def _own_database(url: str, run: str, worker: str) -> str:
    server = make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
    assert server.database is not None, f"{POSTGRESQL_ENV} must name a database"
    name = own_database_name(server.database, run, worker, time.time())
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            known = list(connection.execute(text("SELECT datname FROM pg_database")).scalars())
            for stale in stale_databases(known, server.database, time.time()):
                connection.execute(text(f'DROP DATABASE IF EXISTS "{stale}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    _created.append((server.render_as_string(hide_password=False), name))
    return (
        server.set(database=name)
        .render_as_string(hide_password=False)
        .replace("postgresql+psycopg://", "postgresql://", 1)
    )


def drop_own_database() -> None:
    """Drop the database this process made (its tests are over), closing what still holds it open."""
    while _created:
        server, name = _created.pop()
        engine = create_engine(server, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            engine.dispose()


def postgresql_warehouse(schema: str, *statements: str) -> str:
    """The URL of this process's PostgreSQL database with `schema` made anew and `statements` run in it (a
    warehouse's tables); the test is skipped without PostgreSQL."""
    import pytest

    url = postgresql_url()
    if url is None:
        pytest.skip(f"the PostgreSQL warehouse needs {POSTGRESQL_ENV} (bash .ci/run sets it)")
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
            for statement in statements:
                connection.execute(text(statement))
    finally:
        engine.dispose()
    return url


def reset_postgresql(url: str) -> None:
    """An empty database for the next test: the public schema dropped and made again."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def make_settings(home: Path, base_url: str, database_url: str | None, **overrides: object) -> Settings:
    overrides.setdefault("cc_requests_per_second", float(LIVE_REQUESTS_PER_SECOND))
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

    def add_export(self, name: str, connection: str, segments: list[str], actor: str = "t") -> ExportView:
        """An export of `segments` (by their `email` field) to a new list of the emulated account."""
        return exports.add_export(
            self.store,
            self.settings,
            name=name,
            connection=connection,
            list_id=self.emulator.create_list(f"List {name}"),
            email_field="email",
            segment_names=segments,
            actor=actor,
            http=self.http,
        )

    def exports_on_shared_and_private(self, directory: Path) -> dict[str, int]:
        """The permission tests' world: connections "Shared" (contributors too) and "Private", 20 profiles,
        the segment "Everyone", an export on each ("OnShared", "OnPrivate") with a queued run (ids returned)."""
        self.connect("Shared", allow_contributors=True)
        self.connect("Private")
        self.load_profiles(directory, 20)
        create_segment(self.store, name="Everyone", rule_text="customer_id is not empty", actor="t")
        run_ids = {}
        for name, connection in (("OnShared", "Shared"), ("OnPrivate", "Private")):
            export = self.add_export(name, connection, ["Everyone"])
            run_ids[name] = queue.enqueue(self.store, export.id, trigger="manual", actor="t")[0]
        return run_ids

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
