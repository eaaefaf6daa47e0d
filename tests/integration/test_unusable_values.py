"""Profile values no store index can hold must not fail a run: one such row would fail every run after it."""

from __future__ import annotations

import random
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from segport.exports import launch
from segport.exports import service as exports
from segport.exports.mapping import FieldMapping
from segport.exports.normalize import (
    DUPLICATE_KEY,
    INVALID_EMAIL,
    KEY_TOO_LONG,
    KEY_WITH_NUL,
    MAX_SHOWN,
    MISSING_KEY,
)
from segport.exports.properties import PROPERTIES
from segport.profiles.importer import import_profiles
from segport.profiles.service import connect_external, key_problems
from segport.profiles.source import MAX_KEY_LENGTH
from segport.runs.history import RunView, iter_rows_not_sent, show_run
from segport.segments.service import create_segment
from tests.support import exporting
from tests.support.app import App
from tests.support.exporting import ExportWorld


def _random_text(seed: int, length: int) -> str:
    # Random, not repeated: PostgreSQL compresses a repeated character's index entry below its limit.
    return "".join(random.Random(seed).choices("abcdefghijklmnopqrstuvwxyz0123456789", k=length))


def _warehouse(tmp_path: Path, columns: str, rows: list[dict[str, object]]) -> str:
    """The URL of a SQLite warehouse file whose table `customers` holds the rows (named parameters)."""
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    engine = create_engine(url)
    with engine.begin() as db:
        db.execute(text(f"CREATE TABLE customers ({columns})"))
        names = ", ".join(f":{name}" for name in rows[0])
        db.execute(text(f"INSERT INTO customers VALUES ({names})"), rows)  # noqa: S608 - the test's own names
    engine.dispose()
    return url


def _export_everyone(app: App, url: str, **options: Any) -> str:
    """The warehouse at `url` as the profiles, and the export "Warehouse" of everyone with an address to a new
    list (its id returned), with `options` (a first name field, mapped fields)."""
    connect_external(app.store, url=url, table="customers", key="id", actor="t")
    create_segment(app.store, name="Everyone", rule_text="email is not empty", actor="t")
    app.connect("CC")
    list_id = app.emulator.create_list("Warehouse")
    exports.add_export(
        app.store, app.settings, name="Warehouse", connection="CC", list_id=list_id, email_field="email",
        segment_names=["Everyone"], actor="t", http=app.http, **options,
    )  # fmt: skip
    return list_id


def _run(app: App) -> tuple[RunView, list[tuple[str, str | None, str]]]:
    """A run of the export "Warehouse", and its rows not sent as (key, email, reason)."""
    run_id = launch.run_export(app.store, app.settings, name="Warehouse", actor="t", http=app.http)
    view = show_run(app.store, run_id=run_id)
    return view, [(key, email, reason) for key, email, reason, _ in iter_rows_not_sent(app.store, run_id=run_id)]


def test_an_email_of_thousands_of_characters_is_named_cut_and_the_runs_succeed(
    app: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL refused the 9,000-character address in the skipped members' index (ProgramLimitExceeded) and
    the run failed; the rows now keep its first 319 characters and a mark."""
    long_address = _random_text(1, 9_000) + "@example.com"
    no_at_all = _random_text(2, 9_000)
    usual = exporting.email_of
    monkeypatch.setattr(
        exporting, "email_of", lambda number: {5: long_address, 6: no_at_all}.get(number) or usual(number)
    )
    app.connect("CC")
    world = ExportWorld(app, tmp_path, count=50)
    for attempt in ("first", "rerun"):
        view = world.run()
        assert view.status == "Successful", (attempt, view.message)
        rows = {key: (email, reason) for key, email, reason, _ in world.rows(view.id)}
        assert rows["k0005"] == (long_address[: MAX_SHOWN - 1] + "\u2026", "email_too_long")
        assert rows["k0006"] == (no_at_all[: MAX_SHOWN - 1] + "\u2026", "email_too_long")
    assert world.listed() == world.expected()


def test_a_warehouse_key_too_long_to_keep_is_named_not_sent_and_the_runs_succeed(app: App, tmp_path: Path) -> None:
    """Embedded imports refuse keys over 500 characters; a warehouse's rows are not imported, so a run meets
    them. PostgreSQL refused a 9,000-character key in the sync state's primary key after every batch was sent,
    and every later run failed the same way; the member is now skipped and named, the key cut in its row."""
    long_key = "0" + _random_text(3, 9_000)  # read before its email's twin (members come by email, then key)
    url = _warehouse(
        tmp_path,
        '"id" text, "email" text',
        [{"id": f"k{number:03}", "email": f"p{number}@example.com"} for number in range(1, 21)]
        + [{"id": long_key, "email": "long.key@example.com"}, {"id": "x" * MAX_KEY_LENGTH, "email": "fits@x.io"}]
        + [{"id": "twin", "email": "Long.Key@example.com"}],  # sent: the skipped member is nobody's twin
    )
    connect_external(app.store, url=url, table="customers", key="id", actor="t")
    create_segment(app.store, name="Everyone", rule_text="id is not empty", actor="t")
    app.connect("CC")
    export = app.add_export("Warehouse", "CC", ["Everyone"])
    for attempt in ("first", "rerun"):
        view, rows = _run(app)
        assert view.status == "Successful", (attempt, view.message)
        assert view.counts["members"] == 23 and view.counts["unusable_key"] == 1, (attempt, view.counts)
        assert view.counts["duplicate"] == 0 and view.counts["sent"] == (22 if attempt == "first" else 0)
        assert rows == [(long_key[: MAX_SHOWN - 1] + "\u2026", "long.key@example.com", KEY_TOO_LONG)], attempt
    expected = {f"p{number}@example.com" for number in range(1, 21)} | {"fits@x.io", "long.key@example.com"}
    assert set(app.emulator.members(export.list_id)) == expected


def test_a_warehouse_key_on_two_rows_sends_neither_names_both_and_the_runs_succeed(app: App, tmp_path: Path) -> None:
    """A view that joins orders repeats its customers' keys. The sync state keeps one row per key: the run
    failed (UNIQUE constraint, after sending) on both stores. Which row is the customer is unknown, so none is
    sent and each is named, counted as an unusable key (which the alert on members not sent counts); once the
    view has one row per key, the next run sends it."""
    url = _warehouse(
        tmp_path,
        '"id" text, "email" text, "orders" integer',
        [{"id": f"k{number:03}", "email": f"p{number}@example.com", "orders": 1} for number in range(1, 21)]
        + [{"id": "k005", "email": "other@example.com", "orders": 2}]  # another address for the same key
        + [{"id": "k007", "email": "p7@example.com", "orders": 2}, {"id": "k030", "email": "x@y.io", "orders": 0}],
    )
    connect_external(app.store, url=url, table="customers", key="id", actor="t")
    create_segment(app.store, name="Buyers", rule_text="orders >= 1", actor="t")  # k030's one row is not in it
    app.connect("CC")
    export = app.add_export("Warehouse", "CC", ["Buyers"])
    repeated = [("k005", "other@example.com"), ("k005", "p5@example.com"), ("k007", "p7@example.com")]
    repeated.append(("k007", "p7@example.com"))  # the same row twice: both named
    for attempt in ("first", "rerun"):
        view, rows = _run(app)
        assert view.status == "Successful", (attempt, view.message)
        assert view.counts["members"] == 22 and view.counts["unusable_key"] == 4, (attempt, view.counts)
        assert view.counts["sent"] == (18 if attempt == "first" else 0) and view.counts["duplicate"] == 0
        assert sorted(rows) == sorted((key, email, DUPLICATE_KEY) for key, email in repeated), attempt
        # 4 of 22 members could not be sent: above the alert's 10 %, as a view that repeats every key would be
        alerts = [item["message"] for item in view.events if item["message"].startswith("Alert:")]
        assert len(alerts) == 1 and "4 of 22 members (18%)" in alerts[0] and "unusable key" in alerts[0], alerts
    assert set(app.emulator.members(export.list_id)) == {f"p{n}@example.com" for n in range(1, 21)} - {
        "p5@example.com",
        "p7@example.com",
    }
    engine = create_engine(url)
    with engine.begin() as db:  # the view is fixed: one row per customer
        db.execute(text("DELETE FROM customers WHERE orders = 2"))
    engine.dispose()
    fixed, _ = _run(app)
    assert fixed.status == "Successful" and fixed.counts["sent"] == 2 and fixed.counts["unusable_key"] == 0
    assert set(app.emulator.members(export.list_id)) == {f"p{n}@example.com" for n in range(1, 21)}


def test_warehouse_rows_without_a_usable_key_or_with_a_nul_are_named_and_the_runs_succeed(
    app: App, tmp_path: Path
) -> None:
    """A warehouse (here SQLite; DuckDB alike) may hold rows without a key and text with NUL characters, which
    PostgreSQL's text cannot keep: the lookup of a NUL key failed the run on a PostgreSQL store, and a row
    without a key was sent under the key "None". Such keys are skipped and named; a name is cleaned of a NUL as
    of any control character (and counted), and a NUL makes an address invalid."""
    url = _warehouse(
        tmp_path,
        '"id", "email" text, "first" text',  # keys of any type
        [{"id": f"k{number:03}", "email": f"p{number}@example.com", "first": "A"} for number in range(1, 11)]
        + [
            {"id": None, "email": "no.key@example.com", "first": "B"},
            {"id": None, "email": "no.key.either@example.com", "first": "B"},
            {"id": " ", "email": "blank.key@example.com", "first": "B"},
            {"id": "nul\x00key", "email": "nul.key@example.com", "first": "B"},
            {"id": "None", "email": "none.text@example.com", "first": "B"},  # a real key, only spelled so
            {"id": "k100", "email": "nul\x00mail@example.com", "first": "B"},
            {"id": "k101", "email": "nul.name@example.com", "first": "Ja\x00ne"},
            {"id": 12345, "email": "number.key@example.com", "first": "B"},
        ],
    )
    list_id = _export_everyone(app, url, first_name_field="first")
    not_sent = [
        ("", "no.key@example.com", MISSING_KEY),
        ("", "no.key.either@example.com", MISSING_KEY),
        (" ", "blank.key@example.com", MISSING_KEY),
        ("nul\ufffdkey", "nul.key@example.com", KEY_WITH_NUL),
        ("k100", "nul\ufffdmail@example.com", INVALID_EMAIL),
    ]
    for attempt in ("first", "rerun"):
        view, rows = _run(app)
        assert view.status == "Successful", (attempt, view.message)
        counts = view.counts
        assert (counts["members"], counts["unusable_key"], counts["invalid_email"]) == (18, 4, 1), counts
        assert counts["sent"] == (13 if attempt == "first" else 0) and counts["duplicate"] == 0, (attempt, counts)
        assert counts["cleaned"] == (1 if attempt == "first" else 0), (attempt, counts)
        assert sorted(rows) == sorted(not_sent), attempt
    sent = {f"p{number}@example.com" for number in range(1, 11)}
    assert set(app.emulator.members(list_id)) == sent | {
        "none.text@example.com",
        "nul.name@example.com",
        "number.key@example.com",
    }
    named = app.emulator.contact("nul.name@example.com")
    assert named is not None and named["first_name"] == "Ja ne"


def test_connecting_a_warehouse_says_how_many_keys_repeat_or_are_missing(app: App, tmp_path: Path) -> None:
    url = _warehouse(
        tmp_path,
        '"id" text, "email" text',
        [{"id": f"k{number}", "email": f"p{number}@example.com"} for number in range(1, 6)]
        + [{"id": "k1", "email": "again@example.com"}, {"id": "k2", "email": "b@x.io"}, {"id": "k2", "email": "c@x.io"}]
        + [{"id": None, "email": "none@x.io"}, {"id": "  ", "email": "blank@x.io"}],
    )
    connect_external(app.store, url=url, table="customers", key="id", actor="t")
    said = key_problems(app.store)
    assert said is not None and "2 keys are on more than one row and 2 rows have no key" in said, said
    engine = create_engine(url)
    with engine.begin() as db:  # one row per customer, each with its key
        db.execute(text("DELETE FROM customers WHERE id IS NULL OR trim(id) = '' OR email IN ('again@example.com')"))
        db.execute(text("DELETE FROM customers WHERE email IN ('b@x.io', 'c@x.io')"))
    engine.dispose()
    assert key_problems(app.store) is None
    embedded = tmp_path / "embedded.csv"
    embedded.write_text("id,email\n1,a@x.io\n", encoding="utf-8")
    import_profiles(app.store, embedded, key="id", actor="t")
    assert key_problems(app.store) is None  # an import refuses both


def test_a_nul_in_any_mapped_value_is_cleaned_and_the_runs_succeed(app: App, tmp_path: Path) -> None:
    """Every property a field can map to (and a custom field), each holding a NUL in a warehouse row: PostgreSQL's
    text cannot keep one, and Constant Contact takes none. The value is sent with the NUL taken out as a space (a
    date that is not one left out) and the member counted as cleaned, on both stores; the rerun finds nothing
    changed."""
    dates = ("birthday_month", "birthday_day", "anniversary")
    names = list(PROPERTIES)
    columns = '"id" text, "email" text, ' + ", ".join(f'"{name}" text' for name in [*names, "tier"])
    with_nul = {"id": "k1", "email": "nul@example.com", **{name: f"a\x00{name}" for name in names}, "tier": "g\x00old"}
    plain = {
        "id": "k2",
        "email": "plain@example.com",
        **{name: "1990-04-12" if name in dates else "plain" for name in names},
    }
    url = _warehouse(tmp_path, columns, [with_nul, {**plain, "tier": "gold"}])
    mapped = [*(FieldMapping(name, name) for name in names), FieldMapping("tier", "cf:tier")]
    _export_everyone(app, url, fields=mapped, create_custom_fields=True)
    first, not_sent = _run(app)
    assert first.status == "Successful", first.message
    assert not_sent == [] and first.counts["sent"] == 2 and first.counts["left_out"] == 1, first.counts
    assert first.counts["cleaned"] == 1, first.counts  # the member, once for all its values
    contact = app.emulator.contact("nul@example.com")
    assert contact is not None
    expected = {name: f"a {name}" for name in names if name not in dates} | {"cf:tier": "g old"}
    assert contact["properties"] == expected
    again, _ = _run(app)
    assert again.status == "Successful" and again.counts["sent"] == 0 and again.counts["unchanged"] == 2, again.counts


def test_a_warehouse_value_that_is_not_utf8_is_sent_replaced_or_named_and_the_runs_succeed(
    app: App, tmp_path: Path
) -> None:
    """SQLite keeps any bytes as text: one address that was not UTF-8 failed every run ("Could not decode to
    UTF-8 column 'email'"). Such bytes read as U+FFFD: the address is named invalid, a name is sent with it."""
    path = tmp_path / "warehouse.db"
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE customers (id text, email text, first_name text)")
        db.execute("INSERT INTO customers VALUES ('1', 'ann@example.com', 'Ann')")
        db.execute("INSERT INTO customers VALUES ('2', CAST(X'62ff406578616d706c652e636f6d' AS TEXT), 'Bob')")
        db.execute("INSERT INTO customers VALUES ('3', 'cy@example.com', CAST(X'4379ff' AS TEXT))")
        db.execute("INSERT INTO customers VALUES (CAST(X'34ff' AS TEXT), 'dee@example.com', 'Dee')")
    list_id = _export_everyone(app, f"sqlite:///{path}", first_name_field="first_name")
    view, skipped = _run(app)
    assert view.status == "Successful", view.message
    assert skipped == [("2", "b\ufffd@example.com", INVALID_EMAIL)]
    again, _ = _run(app)  # the same bytes read the same way: nothing changed
    assert again.status == "Successful" and again.counts["unchanged"] == 3 and again.counts["sent"] == 0
    assert sorted(app.emulator.members(list_id)) == ["ann@example.com", "cy@example.com", "dee@example.com"]
    assert app.emulator.contact("cy@example.com")["first_name"] == "Cy\ufffd"
