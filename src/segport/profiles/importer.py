"""Load profiles from a CSV or Parquet file into the embedded `profiles` table, replacing it atomically.

Streams the file, so a million rows never sit in memory. A CSV file's column types are guessed from its first
rows, and every later value is checked against them as it is loaded; a value that would change a type (rare:
a column of whole numbers with a decimal one far down) makes the import read the whole file for types and load
it again. Everything happens in one transaction: a file that fails halfway leaves the previous profiles
exactly as they were.
"""

from __future__ import annotations

import gc
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from segport import audit
from segport.errors import InvalidInput, Refused
from segport.profiles import changes
from segport.profiles.fields import TypeGuess, convert, field_name, parser, stored_datetime
from segport.profiles.reading import CsvRows, ParquetRows, open_rows
from segport.profiles.source import EMBEDDED_TABLE, MAX_KEY_LENGTH, Field, build_table, record_source
from segport.profiles.uses import check_uses
from segport.store import Store
from segport.store.bulk import bind_processors, large_page_cache, row_writer
from segport.store.tables import profile_fields, profile_source
from segport.wording import a

LOADING_TABLE = "profiles_loading"
INSERT_CHUNK = 5_000
LOCK_POLL_SECONDS = 0.2  # between asks for the profiles table's lock (PostgreSQL) while runs read it
SAMPLE_ROWS = 10_000  # the rows a CSV file's types are guessed from before loading starts
# Per column: the distinct short values (up to 64 characters) whose converted form is kept.
REMEMBERED_VALUES = 4_096

Progress = Callable[[str, int, int], None]  # (phase, bytes done, bytes total)


@dataclass(frozen=True)
class ImportedProfiles:
    fields: list[Field]
    key: str
    rows: int
    file_name: str


def import_profiles(
    store: Store,
    path: Path,
    *,
    key: str,
    actor: str,
    progress: Progress | None = None,
    allow_shrink: bool = False,
    allow_breaking: bool = False,
) -> ImportedProfiles:
    """Replace the embedded profiles with the file's rows; `key` names the column that identifies a customer.

    An import that would leave far fewer profiles than there are now (by more than the settings' share, or
    none at all) is refused unless `allow_shrink`: one careless file would otherwise empty every export's
    segments, and a mirror export's list with them. One whose fields no longer serve the active segments or the
    exports (a column they use missing, or of another type) is refused unless `allow_breaking` (uses.py).
    """
    settings = store.settings
    allowed = _Allowed(shrink=allow_shrink, breaking=allow_breaking)
    rows = open_rows(path)
    report = progress or (lambda _phase, _done, _total: None)
    if isinstance(rows, ParquetRows):
        _check_parquet_size(rows, settings.profiles_max_rows, settings.profiles_max_bytes)
        fields, key_field = _with_key(_parquet_fields(rows), key, path.name)
        count = _replace(store, rows, fields, key_field, report, None, allowed, actor)
        return ImportedProfiles(fields, key_field.name, count, path.name)
    fields, checks = _csv_fields(rows, report, sample=SAMPLE_ROWS)
    fields, key_field = _with_key(fields, key, path.name)
    try:
        count = _replace(store, rows, fields, key_field, report, checks, allowed, actor)
    except _SampleMisled:  # rolled back; read every row for types (outside the transaction), then load again
        fields, _ = _csv_fields(rows, report, sample=None)
        fields, key_field = _with_key(fields, key, path.name)
        count = _replace(store, rows, fields, key_field, report, None, allowed, actor)
    return ImportedProfiles(fields, key_field.name, count, path.name)


@dataclass(frozen=True)
class _Allowed:
    shrink: bool
    breaking: bool


def _replace(
    store: Store,
    rows: CsvRows | ParquetRows,
    fields: list[Field],
    key_field: Field,
    report: Progress,
    checks: list[TypeGuess] | None,
    allowed: _Allowed,
    actor: str,
) -> int:
    """Load the rows and swap them in for the profiles, in one transaction; returns how many were loaded."""
    settings = store.settings
    with store.begin() as connection, large_page_cache(connection):
        if not allowed.breaking:  # before the rows: refused at once, not after loading a million of them
            check_uses(connection, fields, key_field.name, rows.path.name)
        count = _load(connection, rows, fields, key_field, report, settings.profiles_max_rows, checks)
        if not allowed.shrink:
            _check_shrink(connection, count, rows.path.name, settings.profiles_max_shrink_share)
        _swap(connection, fields, key_field.name, rows.path.name, count, actor, settings.database_busy_timeout_seconds)
    return count


def _check_parquet_size(rows: ParquetRows, max_rows: int, max_bytes: int) -> None:
    if rows.rows_total > max_rows:
        raise InvalidInput(
            f"{rows.path.name} holds {rows.rows_total:,} rows; segport imports up to {max_rows:,} "
            "(SEGPORT_PROFILES_MAX_ROWS).",
            hint="Raise the setting if the file is right, or import fewer rows.",
        )
    expanded = rows.expanded_bytes()
    if expanded > max_bytes:
        raise InvalidInput(
            f"{rows.path.name} expands to about {expanded:,} bytes of data; segport imports up to "
            f"{max_bytes:,} (SEGPORT_PROFILES_MAX_BYTES).",
            hint="Raise the setting if the file is right, or import fewer rows or columns.",
        )


def _check_shrink(connection: Connection, count: int, file_name: str, share: float) -> None:
    """Refuse replacing the profiles with none, or with far fewer, and say what would be lost."""
    before = connection.execute(select(profile_source.c.row_count).where(profile_source.c.kind == "embedded")).scalar()
    if not before or (count >= before * (1 - share) and count > 0):
        return
    lost = before - count
    what = "every one of them" if count == 0 else f"{lost:,} of them ({lost / before:.0%})"
    raise InvalidInput(
        f"{file_name} holds {count:,} profiles; importing it would replace the {before:,} loaded now and lose "
        f"{what}. Nothing was changed.",
        hint="If that is intended, import it again allowing far fewer profiles. The limit is "
        f"SEGPORT_PROFILES_MAX_SHRINK_SHARE ({share:.0%}).",
        field="allow_shrink",
    )


class _SampleMisled(Exception):
    """A value further down the file does not fit the type its column's first rows gave."""


def _csv_fields(rows: CsvRows, report: Progress, sample: int | None) -> tuple[list[Field], list[TypeGuess] | None]:
    """The fields, with their types guessed from the first `sample` rows (every row with None); and, when rows
    are left beyond the sample, the guesses that must check each of them."""
    guesses: list[TypeGuess] = []
    open_columns: list[tuple[int, TypeGuess]] = []  # the columns whose type a value can still change
    complete = True
    # Closed on leaving: the file closes when the sample is read, not when the generator is collected.
    with closing(iter(rows)) as reading:
        for number, row in enumerate(reading):
            if sample is not None and number >= sample:
                complete = False
                break
            if not guesses:
                guesses = [TypeGuess() for _ in rows.header]
                open_columns = list(enumerate(guesses))
            for index, guess in open_columns:
                guess.observe(row[index])
            if number % 1_000 == 0:
                open_columns = [(index, guess) for index, guess in open_columns if not guess.decided]
            if number % 50_000 == 0:
                report("reading types", rows.bytes_read, rows.size)
    if not rows.header:
        raise InvalidInput(f"{rows.path.name} has no header line.", hint="Add a header naming each column.")
    guesses = guesses or [TypeGuess() for _ in rows.header]
    fields = _named(rows.header, [guess.type for guess in guesses], rows.path.name)
    return fields, None if complete else guesses


def _with_key(fields: list[Field], key: str, file_name: str) -> tuple[list[Field], Field]:
    """Keys are text whatever they look like: "00123" and "123" are different customers."""
    found = _key_field(fields, key, file_name)
    key_field = Field(found.name, "text", found.source_name)
    return [key_field if field.name == key_field.name else field for field in fields], key_field


def _parquet_fields(rows: ParquetRows) -> list[Field]:
    return _named(rows.header, rows.kinds(), rows.path.name)


def _named(headers: list[str], kinds: list[str], file_name: str) -> list[Field]:
    fields: list[Field] = []
    taken: dict[str, str] = {}
    for header, kind in zip(headers, kinds, strict=True):
        if any(unicodedata.category(character) == "Cc" for character in header):
            raise InvalidInput(
                f"{file_name}: the column name {header!r} holds control characters (a NUL, a line break...).",
                hint="Is this a CSV file with a header line? Name each column with plain text.",
            )
        name = field_name(header)
        if name in taken:
            raise InvalidInput(
                f"{file_name}: the columns {taken[name]!r} and {header!r} both become the field {name!r}.",
                hint="Rename one of the columns so their names differ in letters or digits.",
            )
        taken[name] = header
        fields.append(Field(name, kind, header))
    return fields


def _key_field(fields: list[Field], key: str, file_name: str) -> Field:
    for field in fields:
        if key in (field.source_name, field.name):
            return field
    names = ", ".join(field.source_name for field in fields)
    raise InvalidInput(f"{file_name} has no column {key!r}.", hint=f"Choose the key among: {names}.", field="key")


def _load(
    connection: Connection,
    rows: CsvRows | ParquetRows,
    fields: list[Field],
    key: Field,
    report: Progress,
    max_rows: int,
    checks: list[TypeGuess] | None,
) -> int:
    """Load every row; with `checks` (types guessed from the first rows), each value is checked against its
    column's guess first, and _SampleMisled raised at the first that would change it.

    The rows come a chunk at a time as columns, and each column is converted in one pass: a value seen before
    in its column (dates, flags, counts, countries, empty cells) is a dictionary look-up made in C, so only the
    values new to the column run Python code.
    """
    _check_name_lengths(fields, connection.dialect.max_identifier_length, rows.path.name)
    connection.execute(text(f'DROP TABLE IF EXISTS "{LOADING_TABLE}"'))
    table = build_table(LOADING_TABLE, fields)
    table.create(connection)
    key_index = fields.index(key)
    parquet = isinstance(rows, ParquetRows)
    # Per column, once: what turns a file's value into the value stored. Parquet's values have their types
    # already, and its empty cells are None; a CSV file's are text, empty when missing.
    processors = bind_processors(connection, table)
    converters = [
        _converter(
            None if parquet else parser(field.type),
            field.type == "datetime",
            process,
            None if checks is None or index == key_index else checks[index],
            empty=None if parquet else "",
        )
        for index, (field, process) in enumerate(zip(fields, processors, strict=True))
    ]
    file_name = rows.path.name
    count = 0
    with row_writer(connection, table) as write, _cycle_collection_paused():
        for columns in rows.chunks(INSERT_CHUNK):
            first = count + 1
            count += len(columns[key_index])
            if count > max_rows:
                raise InvalidInput(
                    f"{file_name} holds more than {max_rows:,} rows, the most segport imports "
                    "(SEGPORT_PROFILES_MAX_ROWS).",
                    hint="Raise the setting if the file is right, or import fewer rows.",
                )
            columns[key_index] = _keys(columns[key_index], key, file_name, first)
            try:
                converted = [convert(column) for convert, column in zip(converters, columns, strict=True)]
                values = list(zip(*converted, strict=True))
            except ValueError:
                if not parquet:
                    _raise_at_the_value_that_fails(columns, fields, file_name, first)
                raise
            write(values)
            report("loading rows", rows.bytes_read, rows.size)
    report("loading rows", rows.size, rows.size)
    _index_keys(connection, table, key, file_name)
    return count


def _index_keys(connection: Connection, table: Table, key: Field, file_name: str) -> None:
    """The unique index on the keys, which also finds a key that appears twice: the duplicate is looked for
    only when the index refuses (a GROUP BY over every key first cost as much as the index: 2 s per million).

    The index is tried inside a savepoint: PostgreSQL refuses every later statement of a transaction whose
    statement failed, and the duplicate must still be read to be named."""
    # Versioned names: the old table's index still holds its name until that table is dropped.
    index = f"ix_profiles_key_{(changes.current_version(connection) or 0) + 1}"
    try:
        with connection.begin_nested():
            connection.execute(text(f'CREATE UNIQUE INDEX "{index}" ON "{table.name}" ("{key.name}")'))
    except IntegrityError:
        duplicate = connection.execute(
            select(table.c[key.name], func.count()).group_by(table.c[key.name]).having(func.count() > 1).limit(1)
        ).one()
        raise InvalidInput(
            f"{file_name}: the key {duplicate[0]!r} appears {duplicate[1]} times in column {key.source_name!r}.",
            hint="Profiles are one row per customer: make the key unique, or choose another key column.",
            field="key",
        ) from None


def _check_name_lengths(fields: list[Field], longest: int, file_name: str) -> None:
    """Each field is a column of the store's table: PostgreSQL cuts a longer name to its 63 bytes (two long
    headers alike in their first 63 then clash, and it refused the file as "DuplicateColumn")."""
    for field in fields:
        if len(field.name) > longest:  # field names are ASCII: characters are bytes
            raise InvalidInput(
                f"{file_name}: the column {_shown(field.source_name)} becomes the field {_shown(field.name)}, "
                f"{len(field.name):,} characters long; this store keeps field names of up to {longest:,}.",
                hint="Shorten the column's name in the file's header line, then import again.",
            )


def _shown(name: str) -> str:
    """A name quoted in a message, its middle left out when it would not fit a line."""
    return repr(name) if len(name) <= 100 else repr(f"{name[:60]}...{name[-20:]}")


@contextmanager
def _cycle_collection_paused() -> Iterator[None]:
    """Python's cycle collection off while rows are loaded, back on after (if it was on).

    Each 5,000-row chunk's lists and tuples outlive the youngest generation, so full collections kept walking
    them (and every object of the process): a tenth of a million-row import. The rows hold no reference cycles;
    reference counting frees each chunk once written. Another thread's import may overlap: whichever started
    with collection on turns it back on.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _keys(column: Sequence[Any], key: Field, file_name: str, first: int) -> list[str]:
    """A chunk's keys as text; refused at the first empty or overlong one (`first` is the chunk's first row
    number)."""
    keys = None if None in column else list(map(str, column))
    if keys is None or not all(map(str.strip, keys)):
        offset = next(index for index, value in enumerate(column) if value is None or not str(value).strip())
        raise InvalidInput(
            f"{file_name}: row {first + offset} has no value in the key column {key.source_name!r}.",
            hint="Every profile needs a key; fill it in or drop the row.",
        )
    if max(map(len, keys), default=0) > MAX_KEY_LENGTH:
        offset = next(index for index, value in enumerate(keys) if len(value) > MAX_KEY_LENGTH)
        raise InvalidInput(
            f"{file_name}: row {first + offset}: the key in column {key.source_name!r} has "
            f"{len(keys[offset]):,} characters; segport keeps keys of up to {MAX_KEY_LENGTH}.",
            hint="Is that the column that identifies a customer? Choose another key column, or shorten the keys.",
            field="key",
        )
    return keys


_EMPTY_AS_NONE: dict[Any, Any] = {"": None}


def _converter(
    parse: Any, moment: bool, process: Any, guess: TypeGuess | None, empty: str | None
) -> Callable[[Sequence[Any]], Iterable[Any]]:
    """What turns a column of a chunk into the values stored: empty cells to None; each other value checked
    against the type guessed from the first rows (when `guess` is given), parsed from text, a moment moved to
    UTC, in the store's own format."""
    steps = [step for step in (parse, stored_datetime if moment else None, process) if step is not None]
    check = None if guess is None or guess.decided else guess.checker(parsed_after=True)
    if not steps and check is None:
        if empty is None:
            return lambda column: column
        return lambda column: map(_EMPTY_AS_NONE.get, column, column)
    look_up = _Conversions(steps, check, empty).__getitem__
    return lambda column: map(look_up, column)


class _Conversions(dict[Any, Any]):
    """A column's stored values by the file's value: each distinct value is converted once (up to a bound:
    4,096 short values per column, 500 columns at most), every later one found in C."""

    def __init__(self, steps: list[Callable[[Any], Any]], check: Callable[[str], bool] | None, empty: str | None):
        super().__init__({empty: None})
        self._steps = steps
        self._check = check

    def __missing__(self, value: Any) -> Any:
        if self._check is not None and not self._check(value):
            raise _SampleMisled()
        result = value
        try:
            for step in self._steps:
                result = step(result)
        except ValueError:
            if self._check is None:  # types from every value: the file changed meanwhile (the caller says where)
                raise
            raise _SampleMisled() from None  # the check leaves parsing to the steps: a misfit too
        if len(self) <= REMEMBERED_VALUES and len(str(value)) <= 64:
            self[value] = result
        return result


def _raise_at_the_value_that_fails(
    columns: list[Sequence[Any]], fields: list[Field], file_name: str, first: int
) -> None:
    """Types were inferred from this same file, so a value that does not convert means it changed meanwhile."""
    for offset, row in enumerate(zip(*columns, strict=True)):
        for value, field in zip(row, fields, strict=True):
            try:
                convert(value, field.type)
            except ValueError:
                raise InvalidInput(
                    f"{file_name}: row {first + offset}, field {field.name}: {value!r} is not {a(field.type)}.",
                    hint="The file changed while it was being imported; import it again.",
                ) from None


def _swap(
    connection: Connection, fields: list[Field], key: str, file_name: str, count: int, actor: str, wait: float
) -> None:
    changes.record_import(
        connection, _comparable_table(connection, fields, key), build_table(LOADING_TABLE, fields), key, count
    )
    _take_the_profiles_table(connection, wait, file_name)
    connection.execute(text(f'DROP TABLE IF EXISTS "{EMBEDDED_TABLE}"'))
    connection.execute(text(f'ALTER TABLE "{LOADING_TABLE}" RENAME TO "{EMBEDDED_TABLE}"'))
    record_source(
        connection,
        fields,
        kind="embedded",
        table_name=EMBEDDED_TABLE,
        key_field=key,
        file_name=file_name,
        row_count=count,
        loaded_by=actor,
    )
    audit.record(connection, actor, "profiles.imported", file_name, rows=count, key=key)


def _take_the_profiles_table(connection: Connection, wait: float, file_name: str) -> None:
    """On PostgreSQL, the profiles table's exclusive lock, asked without queueing (NOWAIT) until `wait` seconds
    have passed; refused after that, nothing changed.

    A run streams its members from the table for as long as it sends them. DROP TABLE waiting in line for it
    also made every later reader wait behind it: each segment count, preview and page that reads profiles hung
    until the run ended (6 s in the test for a reader held 6 s; minutes for a long run). Asked without waiting,
    the lock stays out of the line, and readers go on. SQLite's readers keep their snapshot: nothing to take."""
    if connection.dialect.name != "postgresql":
        return
    if connection.execute(text("SELECT to_regclass(:name)"), {"name": EMBEDDED_TABLE}).scalar() is None:
        return  # the first import: no table to replace
    deadline = time.monotonic() + wait
    while True:
        try:
            with connection.begin_nested():  # a lock taken in a released savepoint stays the transaction's
                connection.execute(text(f'LOCK TABLE "{EMBEDDED_TABLE}" IN ACCESS EXCLUSIVE MODE NOWAIT'))
            return
        except OperationalError:  # LockNotAvailable: a run (or a count) is reading the profiles
            if time.monotonic() >= deadline:
                raise Refused(
                    f"{file_name} was not imported: the profiles were being read (an export run sending its "
                    f"members, most likely) for all of {wait:g} s. Nothing was changed.",
                    hint="Import it again when the run has finished (or raise SEGPORT_DATABASE_BUSY_TIMEOUT_SECONDS).",
                ) from None
            time.sleep(LOCK_POLL_SECONDS)


def _comparable_table(connection: Connection, fields: list[Field], key: str) -> Table | None:
    """The embedded table being replaced, when it has the same fields and key (so rows can be compared)."""
    source = connection.execute(select(profile_source.c.kind, profile_source.c.key_field)).first()
    if source is None or source.kind != "embedded" or source.key_field != key:
        return None
    old = connection.execute(select(profile_fields.c.name, profile_fields.c.type)).all()
    if {(row.name, row.type) for row in old} != {(field.name, field.type) for field in fields}:
        return None
    return build_table(EMBEDDED_TABLE, fields)
