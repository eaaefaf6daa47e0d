"""Profile service: import a file, connect an external table, describe the active source."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Text, cast, func, or_, select
from sqlalchemy.exc import SQLAlchemyError

from segport import audit
from segport.errors import InvalidInput, WarehouseUnavailable, unexpected
from segport.profiles import changes
from segport.profiles.columns import NoSuchTable, source_columns
from segport.profiles.fields import field_name
from segport.profiles.importer import ImportedProfiles, import_profiles
from segport.profiles.source import Field, load_source, record_source
from segport.profiles.uses import check_uses
from segport.store import Store
from segport.store.database import engine_safe_url, warehouse_engine
from segport.store.tables import profile_source

__all__ = ["ImportedProfiles", "connect_external", "describe", "import_profiles", "key_problems"]


@dataclass(frozen=True)
class SourceDescription:
    description: str
    key: str
    fields: list[Field]
    row_count: int | None
    loaded_at: datetime | None
    loaded_by: str | None
    # Why a warehouse's rows could not be counted (it does not answer, its table changed): the rest is what
    # segport keeps, shown all the same, so the page that loads other profiles still opens.
    problem: str | None = None


def describe_if_loaded(store: Store, *, count: bool = True) -> SourceDescription | None:
    """The profile source, or None before any profiles are loaded (pages show how to load them)."""
    with store.read() as db:
        if db.execute(select(profile_source)).first() is None:
            return None
    return describe(store, count=count)


def describe(store: Store, *, count: bool = True) -> SourceDescription:
    """The active source; a warehouse's rows counted there when `count` (forms need only the fields, and a count
    of a large table is not free)."""
    source = load_source(store)
    with store.read() as db:
        row = db.execute(select(profile_source)).mappings().one()
    rows, problem = row["row_count"], None
    if source.kind == "external" and count:
        try:
            source.check_columns()  # a column dropped there since: said here, before a run meets it
            with source.engine.connect() as connection:
                rows = connection.execute(select(func.count()).select_from(source.table)).scalar_one()
        except (WarehouseUnavailable, InvalidInput) as error:
            problem = str(error)  # with its fix
        except SQLAlchemyError as error:
            problem = f"The rows of the {source.description} could not be counted ({unexpected(error)})."
    return SourceDescription(
        source.description, source.key, source.fields, rows, row["loaded_at"], row["loaded_by"], problem
    )


def key_problems(store: Store) -> str | None:
    """A warehouse's keys as runs will meet them: how many are on more than one row, and how many rows have
    none (both counted where the rows are); None when every row has a key of its own, or the source is the
    embedded table (an import refuses both). Said once, when the source is connected: each run names the rows."""
    source = load_source(store)
    if source.kind != "external":
        return None
    key = source.table.c[source.key]
    repeated = source.repeated_keys().subquery()
    blank = or_(key.is_(None), func.trim(cast(key, Text)) == "")
    with source.engine.connect() as connection:
        keys_repeated = int(connection.execute(select(func.count()).select_from(repeated)).scalar_one())
        without_key = int(connection.execute(select(func.count()).select_from(source.table).where(blank)).scalar_one())
    if not keys_repeated and not without_key:
        return None
    found = []
    if keys_repeated:
        found.append(f"{keys_repeated:,} {'key is' if keys_repeated == 1 else 'keys are'} on more than one row")
    if without_key:
        found.append(f"{without_key:,} {'row has' if without_key == 1 else 'rows have'} no key")
    return (
        f"In {source.description}, {' and '.join(found)}: runs send none of these rows and name each "
        "(duplicate_key, missing_key). A view with one row per customer, each with its key, avoids it."
    )


def connect_external(
    store: Store, *, url: str, table: str, key: str, actor: str, allow_breaking: bool = False
) -> SourceDescription:
    """Point segport at a table or view in another database; segments then run there (pushdown). A table whose
    columns no longer serve the active segments or the exports is refused unless `allow_breaking` (uses.py)."""
    schema, _, name = table.rpartition(".")
    engine = warehouse_engine(url, store.settings.warehouse_query_timeout_seconds)
    try:
        columns = source_columns(engine, name, schema or None)
    except NoSuchTable:
        columns = []
    except WarehouseUnavailable as exc:  # in the words of connecting, not of a source connected before
        raise InvalidInput(
            f"Cannot read {table} at {engine_safe_url(url)} ({exc.answer}).",
            hint="Check the URL (host, port, database, user, password), that the database is running, and that "
            "nothing there holds a lock on the table.",
            field="url",
        ) from None
    except SQLAlchemyError as exc:
        raise InvalidInput(
            f"Cannot read {table} at {engine_safe_url(url)} ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}).",
            hint="Check the URL, the table or view name and the database user's rights.",
        ) from None
    finally:
        engine.dispose()
    if not columns:
        raise InvalidInput(
            f"There is no table or view {table!r} at {engine_safe_url(url)}.",
            hint="Name a table or view the database user can read, as [schema.]name.",
            field="table",
        )
    fields = []
    taken: set[str] = set()
    for column, kind in columns:
        field = Field(field_name(column), kind, column)
        if field.name in taken:
            raise InvalidInput(
                f"Two columns of {table} both become the field {field.name!r}.",
                hint="Expose the table through a view with distinct column names.",
            )
        taken.add(field.name)
        fields.append(field)
    key_field = next((f for f in fields if key in (f.name, f.source_name)), None)
    if key_field is None:
        raise InvalidInput(
            f"{table} has no column {key!r}.",
            hint=f"Choose the key among: {', '.join(f.source_name for f in fields)}.",
            field="key",
        )
    with store.begin() as db:
        if not allow_breaking:
            check_uses(db, fields, key_field.name, table, "table")
        changes.record_untracked(db)
        record_source(
            db,
            fields,
            kind="external",
            table_name=name,
            schema_name=schema or None,
            key_field=key_field.name,
            url_sealed=store.secrets.seal(url),
            row_count=None,
            loaded_by=actor,
        )
        audit.record(db, actor, "profiles.connected", name, database=engine_safe_url(url))
    return describe(store)
