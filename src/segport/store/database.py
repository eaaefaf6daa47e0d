"""The store: one SQLAlchemy engine (SQLite in WAL mode by default, or PostgreSQL) with migrations applied."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.pool import NullPool

from segport import __version__
from segport.config import Settings
from segport.errors import ConfigurationError, WarehouseUnavailable
from segport.store.budgets_file import budgets_file_of, open_budgets_file
from segport.store.secrets import SecretBox, load_secret_box

MIGRATIONS = Path(__file__).with_name("migrations")
# The newest migration. A test checks it against Alembic's head, so commands can skip loading Alembic
# (a fifth of a second) when the database is already up to date.
SCHEMA_REVISION = "0017"
MIGRATION_LOCK = 0x5E6_0001  # PostgreSQL advisory lock key held while migrating ("seg", 1)
DUCKDB_MEMORY_LIMIT = "256MB"  # per segport process reading a DuckDB warehouse (bench/warehouse_10m.py)
SQLITE_POOL_SIZE = 20
WAREHOUSE_CONNECT_SECONDS = 10  # libpq's connect_timeout for a PostgreSQL warehouse (its URL may say otherwise)
QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for a query ended by statement_timeout (or a cancel)
IMMEDIATE = "segport_immediate"  # execution option: begin SQLite transactions with BEGIN IMMEDIATE


def create_store_engine(url: str, busy_timeout: float = 30.0) -> Engine:
    """An engine for the store or a profile source: SQLite gets WAL, foreign keys and a busy timeout on every
    connection, DuckDB is opened read-only."""
    if url.startswith("sqlite"):
        # 20 connections kept, not SQLAlchemy's 5: the API answers up to 40 requests at once (AnyIO's threads), and
        # each connection made beyond those kept is closed when given back, so the next pays for opening the file
        # and its pragmas again (6 % of the server's time under 20 clients). A kept connection costs a few file
        # handles and the pages it has cached (2 MB at most).
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": busy_timeout}, pool_size=SQLITE_POOL_SIZE
        )

        database = url.split("///", 1)[1] if "///" in url else ""
        if database and database != ":memory:" and not Path(database).exists() and Path(database).parent.is_dir():
            # Made here rather than by the first connection: owner-only from the start (umask would give 0644).
            with contextlib.suppress(OSError):  # not ours to make: the connection says why, below
                os.close(os.open(database, os.O_WRONLY | os.O_CREAT, 0o600))

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Python's sqlite3 commits DDL on its own; take over BEGIN so CREATE/DROP/RENAME roll back too
            # (a failed profile import must leave nothing behind).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            _write_ahead_log(cursor, busy_timeout)
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            # The page cache stays SQLite's 2 MB: the large writes take more for their transaction only
            # (store.bulk.large_page_cache).
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection: Connection) -> None:
            # A store transaction takes the write lock up front (IMMEDIATE, waiting up to the busy timeout):
            # a deferred one that reads and then writes fails at once, without waiting, when another
            # process or thread wrote in between (SQLITE_BUSY_SNAPSHOT). Plain reads (streams) stay deferred.
            immediate = connection.get_execution_options().get(IMMEDIATE, False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("duckdb"):
        # A DuckDB file is only ever a profile source segport reads, and DuckDB lets one process open it for
        # writing or many read-only. Read-only, every segport process (the web UI, each worker) can read it at
        # once; not pooled, it is closed between reads, so whatever loads the warehouse can write meanwhile.
        # DuckDB's memory limit (80 % of RAM by default) would let it keep a run's whole sorted member stream
        # in memory (2.3 GB for 10 million profiles); limited, it spills the sort to disk beside the file.
        config = {"memory_limit": DUCKDB_MEMORY_LIMIT}
        return create_engine(url, connect_args={"read_only": True, "config": config}, poolclass=NullPool)
    return create_engine(url, pool_pre_ping=True)


def _decode_text_leniently(dbapi_connection: Any, _record: Any) -> None:
    """A SQLite warehouse is another program's file, and SQLite keeps any bytes it is given as text: one value
    that is not UTF-8 failed every read of the table ("Could not decode to UTF-8 column"), so every run. Such
    bytes become U+FFFD instead: an address holding one is refused as invalid and named, other values are sent
    with it. The cost: 0.5 s per million rows of five text columns."""
    dbapi_connection.text_factory = _lenient_text


def warehouse_engine(url: str, query_seconds: float) -> Engine:
    """An engine on a database segport reads profiles from (a warehouse): text read leniently from SQLite, dates
    without infinities from PostgreSQL, whose queries also give up after `query_seconds`; a warehouse that does
    not answer is said to be one."""
    engine = create_store_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _decode_text_leniently)
    if engine.dialect.name == "postgresql":
        event.listen(engine, "connect", _infinite_moments_as_unknown)
        event.listen(engine, "do_connect", _connect_time_limit)
        event.listen(engine, "connect", _query_time_limit(query_seconds))
    event.listen(engine, "handle_error", _warehouse_unavailable)
    return engine


def _lenient_text(value: bytes) -> str:
    return value.decode("utf-8", "replace")


def _connect_time_limit(_dialect: Any, _record: Any, _arguments: Any, parameters: dict[str, Any]) -> None:
    """libpq waits as long as the network lets it to connect; a warehouse's connections give up after
    WAREHOUSE_CONNECT_SECONDS (a URL's own connect_timeout is kept). A client-side setting: no pooler refuses it."""
    parameters.setdefault("connect_timeout", WAREHOUSE_CONNECT_SECONDS)


def _query_time_limit(query_seconds: float) -> Callable[[Any, Any], None]:
    """A PostgreSQL warehouse's queries give up after `query_seconds`, set by SQL on each new connection rather
    than as a startup option, which PgBouncer refuses unless told to ignore it."""

    def limit(dbapi_connection: Any, _record: Any) -> None:
        driver = getattr(dbapi_connection, "driver_connection", dbapi_connection)
        autocommit = driver.autocommit
        driver.autocommit = True  # kept for the session, not undone with a transaction
        try:
            driver.execute(f"SET statement_timeout = {int(query_seconds * 1000)}")
        finally:
            driver.autocommit = autocommit

    return limit


def _warehouse_unavailable(context: ExceptionContext) -> None:
    """A warehouse that cannot be reached, refuses the sign-in or drops the connection, said as such: the CLI
    took the driver's error for trouble with segport's own database (and named SEGPORT_DATABASE_URL as the
    fix), the pages answered 500, and a run met it as an error it did not expect. A statement's own error (a
    column gone) is left to its callers, and a stale pooled connection to the pre-ping, which opens another."""
    timed_out = getattr(context.original_exception, "sqlstate", None) == QUERY_CANCELED
    if context.is_pre_ping or (context.connection is not None and not context.is_disconnect and not timed_out):
        return
    where = context.engine.url.render_as_string(hide_password=True) if context.engine is not None else ""
    said = (str(context.original_exception).strip().splitlines() or [type(context.original_exception).__name__])[0]
    at = f" at {where}" if where else ""
    if timed_out:
        raise WarehouseUnavailable(
            f"The profiles' warehouse{at} did not finish a query in time ({said[:300]}).",
            answer=said[:300],
            hint="A lock held on the table there (a schema change, a load) makes queries wait, as does a busy "
            "warehouse; SEGPORT_WAREHOUSE_QUERY_TIMEOUT_SECONDS is how long segport waits. Try again when it is free.",
        ) from context.original_exception
    locked = "lock" in said.lower()  # DuckDB: "Could not set lock on file ...", another process writes it
    raise WarehouseUnavailable(
        f"The profiles' warehouse{at} does not answer ({said[:300]}).",
        answer=said[:300],
        hint="Another process holds it locked (a load writing it, say): try again when that is done."
        if locked
        else None,
    ) from context.original_exception


def _infinite_moments_as_unknown(dbapi_connection: Any, _record: Any) -> None:
    """A PostgreSQL warehouse's dates and moments may be 'infinity' or '-infinity', which Python's cannot be:
    psycopg refused the row ("timestamp too large"), so a preview, a download or a run mapping the field failed.
    Read, they are unknown (None); segment rules compare them in the database, where they keep their order."""
    from psycopg.types.datetime import DateLoader, TimestampLoader, TimestamptzLoader

    adapters = getattr(dbapi_connection, "driver_connection", dbapi_connection).adapters
    for name, loader in (("date", DateLoader), ("timestamp", TimestampLoader), ("timestamptz", TimestamptzLoader)):
        adapters.register_loader(name, _without_infinity(loader))


def _without_infinity(loader: Any) -> Any:
    class Finite(loader):  # type: ignore[misc]
        def load(self, data: Any) -> Any:
            if bytes(data) in (b"infinity", b"-infinity"):
                return None
            return super().load(data)

    return Finite


def _write_ahead_log(cursor: Any, busy_timeout: float) -> None:
    """Put the file in WAL mode (it stays so: later connections find it done). On a new file several
    connections opening at once (processes starting together, a server's first requests) race to switch it,
    and SQLite answers the losers "database is locked" at once, without its busy handler: they try again
    until the busy timeout, by when the winner has switched it."""
    import sqlite3
    import time

    deadline = time.monotonic() + busy_timeout
    pause = 0.01
    while True:
        try:
            if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.2)


def alembic_config(connection: Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def known_revisions() -> set[str]:
    """The schema revisions this segport can migrate from: one file each, named after its revision."""
    return {path.name.split("_", 1)[0] for path in (MIGRATIONS / "versions").glob("[0-9]*_*.py")}


def upgrade(engine: Engine) -> None:
    """Apply every migration not yet applied."""
    found = current_revision(engine)
    if found == SCHEMA_REVISION:
        return
    if found is not None and found not in known_revisions():
        # Alembic's own answer is a long traceback ending "Can't locate revision": say what happened instead.
        raise ConfigurationError(
            f"This database was upgraded by a newer segport (its schema is revision {found}; this segport "
            f"{__version__} knows revisions up to {SCHEMA_REVISION}). Nothing was changed.",
            hint="Run the newer segport that upgraded it (pip install -U segport), or restore the backup taken "
            "before that upgrade. Every segport process sharing this database must be the same version.",
        )
    from alembic import command

    _migrate(engine, lambda config: command.upgrade(config, "head"))


def downgrade(engine: Engine, revision: str) -> None:
    """Step the schema back to `revision` (to return to an older segport), keeping every row."""
    from alembic import command

    _migrate(engine, lambda config: command.downgrade(config, revision))


def _migrate(engine: Engine, step: Callable[[Any], None]) -> None:
    # Several processes may start at once: on SQLite the write lock is taken first, and Alembic reads the
    # revision inside the transaction, so the second one finds the work done.
    with engine.connect() as connection:
        connection.execution_options(**{IMMEDIATE: True})
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:
            # SQLite's way to change a table (https://www.sqlite.org/lang_altertable.html#otheralter): foreign
            # keys off, outside the transaction, while a table is rebuilt; otherwise dropping the old copy
            # cascades into its child rows. The check before commit proves nothing was left dangling.
            _pragma(connection, "foreign_keys=OFF")
        try:
            with connection.begin():
                if engine.dialect.name == "postgresql":
                    # Processes starting together on a new database take turns: the first migrates, the next
                    # finds the work done (Alembic reads the revision after this lock). Without it they raced
                    # to create the same tables and hung on each other's locks.
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
                step(alembic_config(connection))
                if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
                    raise ConfigurationError(
                        "A migration left rows that point at nothing; the database was not changed.",
                        hint="Report this with the output of: sqlite3 DATABASE 'PRAGMA foreign_key_check'.",
                    )
        finally:
            if sqlite:
                _pragma(connection, "foreign_keys=ON")


def _pragma(connection: Connection, setting: str) -> None:
    """A PRAGMA on the DBAPI connection itself: through SQLAlchemy it would open a transaction, where
    foreign_keys cannot be changed."""
    connection.connection.driver_connection.execute(f"PRAGMA {setting}")  # type: ignore[union-attr]


@dataclass
class Store:
    engine: Engine
    secrets: SecretBox
    settings: Settings
    _external: dict[str, Engine] = field(default_factory=dict, repr=False)
    _nesting: threading.local = field(default_factory=threading.local, repr=False)
    _budgets: Engine | None = field(default=None, repr=False)
    _budgets_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def external_engine(self, url: str) -> Engine:
        """One pooled engine per external profile database, kept for as long as the store."""
        if url not in self._external:
            self._external[url] = warehouse_engine(url, self.settings.warehouse_query_timeout_seconds)
        return self._external[url]

    def close(self) -> None:
        for engine in self._external.values():
            engine.dispose()
        self._external.clear()
        if self._budgets is not None and self._budgets is not self.engine:
            self._budgets.dispose()
        self._budgets = None
        self.engine.dispose()

    @contextmanager
    def budgets(self, *, write: bool = True) -> Iterator[Connection]:
        """A transaction where the API request budgets are kept (tables.api_budgets); `write=False` only reads
        (a metrics scrape, a count shown), taking no write lock that a request's reservation would wait for.

        On PostgreSQL that is the store (the key's row lock serialises only the requests of that key). A SQLite
        store keeps them in a second file beside it, `<name>-budgets.db`, with a write lock of its own: every
        request reserves its slot in a write, which must not queue behind a run writing a batch of 40,000
        members (that cost the sending thread 11 s of a million-member export). Every process that opens the
        store finds the same file.
        """
        engine = self._budget_engine()
        if engine is self.engine:
            with self.begin() if write else self.read() as connection:
                yield connection
            return
        with engine.connect() as connection:
            connection.execution_options(**{IMMEDIATE: write})
            with connection.begin():
                yield connection

    def _budget_engine(self) -> Engine:
        with self._budgets_lock:
            if self._budgets is None:
                database = self.engine.url.database if self.dialect == "sqlite" else None
                if not database or database == ":memory:":
                    self._budgets = self.engine
                else:
                    timeout = self.settings.database_busy_timeout_seconds
                    self._budgets = open_budgets_file(
                        budgets_file_of(Path(database)), lambda url: create_store_engine(url, timeout)
                    )
            return self._budgets

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back when it raises."""
        depth = getattr(self._nesting, "depth", 0)
        with self.engine.connect() as connection:
            # Only the outermost transaction of a thread takes the write lock first: one opened inside it (a
            # lookup while a query is built) only reads, and asking for the lock again would wait on itself.
            if depth == 0:
                connection.execution_options(**{IMMEDIATE: True})
            self._nesting.depth = depth + 1
            try:
                with connection.begin():
                    yield connection
            finally:
                self._nesting.depth = depth

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A transaction that only reads: one consistent snapshot, and on SQLite no write lock, so pages and
        API reads neither wait for a running export's checkpoints nor hold them up. Never write inside it.
        (It holds no lock, so a `begin` opened inside it may take the write lock as usual.)"""
        with self.engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                # Read committed would give each statement its own snapshot: a list built from three
                # queries could mix two states. Repeatable read costs a read-only transaction nothing.
                connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                yield connection

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name


def open_store(settings: Settings, *, migrate: bool = True) -> Store:
    """Open (and by default migrate) the store the settings point at."""
    url = settings.resolved_database_url
    if url.startswith("sqlite") and settings.database_url is None:
        prepare_home(settings.home)
    try:
        engine = create_store_engine(url, settings.database_busy_timeout_seconds)
        if migrate:
            upgrade(engine)
    except Exception as exc:
        if isinstance(exc, ConfigurationError):
            raise
        from sqlalchemy.exc import SQLAlchemyError

        if isinstance(exc, SQLAlchemyError | OSError):
            raise ConfigurationError(
                f"The database at {engine_safe_url(url)} cannot be opened ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:200]}).",
                hint="Check SEGPORT_DATABASE_URL, or unset it to use the SQLite file in SEGPORT_HOME.",
            ) from None
        raise
    return Store(engine=engine, secrets=load_secret_box(settings), settings=settings)


def prepare_home(home: Path) -> None:
    """The data folder, readable by its owner only: it holds the database (customer emails and names) and the
    key that opens the stored tokens."""
    if home.exists() and not home.is_dir():
        raise ConfigurationError(
            f"SEGPORT_HOME is {home}, which is a file, not a folder.",
            hint="Point SEGPORT_HOME at a folder (it is created if missing), e.g. ~/.segport.",
        )
    try:
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        home.chmod(0o700)
        for path in [*home.glob("segport.db*"), *home.glob("segport-budgets.db*")]:
            # A journal another process is done with may vanish between the listing and here: nothing to do.
            with contextlib.suppress(FileNotFoundError):
                path.chmod(0o600)
    except OSError as exc:
        raise ConfigurationError(
            f"The data folder {home} cannot be used ({exc.strerror}).",
            hint="Point SEGPORT_HOME at a folder you can write to.",
        ) from None


def engine_safe_url(url: str) -> str:
    """The URL with any password hidden, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split(":", 1)[0] + "://..."
