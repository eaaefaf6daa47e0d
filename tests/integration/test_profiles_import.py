"""Loading profiles into the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import gc
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import orjson
import pyarrow as arrow
import pyarrow.parquet as parquet
import pytest
from sqlalchemy import insert, inspect, select, text

from segport.errors import InvalidInput
from segport.profiles import importer
from segport.profiles.fields import convert, stored_datetime
from segport.profiles.importer import import_profiles
from segport.profiles.service import describe
from segport.profiles.source import build_table, load_source
from segport.store.tables import connections
from tests.support.app import App


def write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def rows(app: App) -> list[tuple[object, ...]]:
    source = load_source(app.store)
    with source.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(select(source.table).order_by(source.table.c[source.key]))]


def test_a_csv_with_bom_loads_with_typed_fields(app: App, tmp_path: Path) -> None:
    path = write(
        tmp_path / "p.csv",
        "\ufeffCustomer ID,E-mail,Spend,Orders,VIP,Joined\n"
        "2,b@x.io,10.5,3,true,2024-02-01\n1,a@x.io,,1,false,2023-01-31\n",
    )
    result = import_profiles(app.store, path, key="Customer ID", actor="tester")
    assert [(f.name, f.type, f.source_name) for f in result.fields] == [
        ("customer_id", "text", "Customer ID"),
        ("e_mail", "text", "E-mail"),
        ("spend", "number", "Spend"),
        ("orders", "integer", "Orders"),
        ("vip", "boolean", "VIP"),
        ("joined", "date", "Joined"),
    ]
    assert result.rows == 2
    stored = rows(app)
    assert stored[0][:5] == ("1", "a@x.io", None, 1, False)
    assert str(stored[1][5]) == "2024-02-01"
    assert describe(app.store).row_count == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("id,email\n1,a@x.io\n2,caf\xe9@x.io\n".encode("latin-1"), "line 3: the bytes are not UTF-8"),
        ('id,email\n1,a@x.io\n2,"b@x.io\n', "line 3: malformed CSV"),
        ("id,email\n1,a@x.io\n2,b@x.io,extra\n", "line 3: 3 fields where the header has 2"),
        ("id,email\n1,a@x.io\n1,b@x.io\n", "the key '1' appears 2 times"),
        ("id,email\n1,a@x.io\n,b@x.io\n", "row 2 has no value in the key column 'id'"),
        # One past the longest key kept, counted in characters (505 bytes here), on every store alike.
        (
            f"id,email\n1,a@x.io\n{'k' * 400}\u00e9\u00e9\u00e9\u00e9{'k' * 97},b@x.io\n",
            "row 2: the key in column 'id' has 501 characters",
        ),
        ("", "is empty"),
        ("id,E mail,e-mail\n1,a,b\n", "both become the field 'e_mail'"),
    ],
)
def test_a_bad_file_is_refused_and_the_previous_profiles_stay(
    app: App, tmp_path: Path, content: str | bytes, message: str
) -> None:
    good = write(tmp_path / "good.csv", "id,email\n7,kept@x.io\n")
    import_profiles(app.store, good, key="id", actor="tester")
    with pytest.raises(InvalidInput, match=message):
        import_profiles(app.store, write(tmp_path / "bad.csv", content), key="id", actor="tester")
    assert rows(app) == [("7", "kept@x.io")]
    assert "profiles_loading" not in inspect(app.store.engine).get_table_names()


def test_an_unknown_key_column_names_the_columns(app: App, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no column 'customer'") as raised:
        import_profiles(app.store, write(tmp_path / "p.csv", "id,email\n1,a@x.io\n"), key="customer", actor="t")
    assert "id, email" in raised.value.hint
    with pytest.raises(InvalidInput, match="There is no file"):
        import_profiles(app.store, tmp_path / "missing.csv", key="id", actor="t")


def test_a_reimport_replaces_fields_and_rows(app: App, tmp_path: Path) -> None:
    import_profiles(app.store, write(tmp_path / "a.csv", "id,email,city\n1,a@x.io,Paris\n"), key="id", actor="t")
    import_profiles(app.store, write(tmp_path / "b.csv", "id,mail\n5,e@x.io\n6,f@x.io\n"), key="id", actor="t")
    assert [f.name for f in load_source(app.store).fields] == ["id", "mail"]
    assert rows(app) == [("5", "e@x.io"), ("6", "f@x.io")]


def test_a_parquet_file_loads_with_its_own_types(app: App, tmp_path: Path) -> None:
    table = arrow.table({"Customer ID": [1, 2], "Email": ["a@x.io", None], "Spend": [1.5, 2.0], "VIP": [True, False]})
    parquet.write_table(table, tmp_path / "p.parquet")
    result = import_profiles(app.store, tmp_path / "p.parquet", key="Customer ID", actor="t")
    assert [(f.name, f.type) for f in result.fields] == [
        ("customer_id", "text"),
        ("email", "text"),
        ("spend", "number"),
        ("vip", "boolean"),
    ]
    assert rows(app) == [("1", "a@x.io", 1.5, True), ("2", None, 2.0, False)]


def test_a_corrupt_parquet_file_is_refused(app: App, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not a readable Parquet file"):
        import_profiles(app.store, write(tmp_path / "p.parquet", b"PAR1 not really"), key="id", actor="t")


def test_secrets_are_not_stored_in_plain_text(app: App) -> None:
    app.connect()
    with app.store.engine.connect() as connection:
        dump = " ".join(str(value) for row in connection.execute(text("SELECT * FROM connections")) for value in row)
        sealed = connection.execute(select(connections.c.tokens_sealed)).scalar_one()
    tokens = orjson.loads(app.store.secrets.open(sealed))
    assert app.settings.cc_client_secret is not None
    # The issued secrets themselves, not a JWT's "eyJ" prefix: sealed ciphertext is base64 and holds any
    # three letters now and then (it did once in CI).
    for secret in (app.settings.cc_client_secret.get_secret_value(), tokens["access_token"], tokens["refresh_token"]):
        assert secret not in dump


def test_the_bulk_load_stores_exactly_what_sqlalchemy_would_and_moments_in_utc(app: App, tmp_path: Path) -> None:
    """The import writes through the driver (COPY, executemany); every value must be stored as SQLAlchemy's
    own INSERT stores it (SQLite keeps dates and times as text in SQLAlchemy's format), every moment in UTC."""
    content = (
        "id,name,count,spend,flag,day,moment\n"
        '1,"Zoë, ""the"" first",-12,1.5e3,yes,2024-02-29,2024-02-29 10:00\n'
        "2,,123456789012345678,.5,FALSE,1999-12-31,2024-02-29T10:00:00.123456Z\n"
        "3,plain,,,,,2024-02-29T10:00:00+02:00\n"
        "4,ok,0,0,no,2000-01-01,\n"
    )
    result = import_profiles(app.store, write(tmp_path / "p.csv", content), key="id", actor="tester")
    assert [field.type for field in result.fields] == [
        "text", "text", "integer", "number", "boolean", "date", "datetime"
    ]  # fmt: skip
    reference = build_table("reference", result.fields)
    lines = [line.split(",") for line in content.splitlines()[1:]]
    lines[0] = ["1", 'Zoë, "the" first', *lines[0][3:]]
    with app.store.begin() as connection:
        reference.create(connection)
        values = []
        for line in lines:
            row = {}
            for field, value in zip(result.fields, line, strict=True):
                converted = convert(value, field.type)
                row[field.name] = stored_datetime(converted) if field.type == "datetime" and converted else converted
            values.append(row)
        connection.execute(insert(reference), values)
    with app.store.engine.connect() as connection:
        stored = connection.execute(text("SELECT * FROM profiles ORDER BY id")).all()
        expected = connection.execute(text("SELECT * FROM reference ORDER BY id")).all()
        connection.rollback()
    assert stored == expected
    assert [row[-1] for row in rows(app)] == [
        datetime(2024, 2, 29, 10, 0),
        datetime(2024, 2, 29, 10, 0, 0, 123456),
        datetime(2024, 2, 29, 8, 0),  # +02:00 taken to UTC, the same on every store
        None,
    ]


def test_parquet_moments_with_a_time_zone_are_kept_in_utc(app: App, tmp_path: Path) -> None:
    moments = [datetime(2024, 2, 29, 10, 0, tzinfo=timezone(timedelta(hours=2))), None]
    table = arrow.table({"id": ["a", "b"], "moment": arrow.array(moments, arrow.timestamp("us", tz="+02:00"))})
    parquet.write_table(table, tmp_path / "p.parquet")
    import_profiles(app.store, tmp_path / "p.parquet", key="id", actor="t")
    assert rows(app) == [("a", datetime(2024, 2, 29, 8, 0)), ("b", None)]


@pytest.mark.parametrize(("bad", "message"), [(b"caf\xe9", "the bytes are not UTF-8"), (b"a\x00b", "NUL character")])
def test_a_bad_byte_deep_in_a_large_file_is_named_by_its_line(
    app: App, tmp_path: Path, bad: bytes, message: str
) -> None:
    """The file is read in large blocks; the refusal still names the line the bad byte is on."""
    lines = [b"id,name"] + [b"%d,name %d" % (number, number) for number in range(1, 90_000)]
    lines[84_321] = b"84321," + bad
    path = write(tmp_path / "p.csv", b"\n".join(lines) + b"\n")
    assert path.stat().st_size > 1 << 20  # beyond the first block
    with pytest.raises(InvalidInput, match=f"line 84322: .*{message}"):
        import_profiles(app.store, path, key="id", actor="t")


@pytest.fixture
def small_sample(monkeypatch: pytest.MonkeyPatch) -> int:
    """Types guessed from the first 3 rows, so a short file has rows beyond the sample."""
    monkeypatch.setattr(importer, "SAMPLE_ROWS", 3)
    return 3


@pytest.fixture
def type_passes(monkeypatch: pytest.MonkeyPatch) -> list[int | None]:
    """The rows each reading for types covered (None: the whole file)."""
    passes: list[int | None] = []
    guess_types = importer._csv_fields

    def counted(*arguments: object, **options: object) -> object:
        passes.append(options.get("sample"))  # type: ignore[arg-type]
        return guess_types(*arguments, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(importer, "_csv_fields", counted)
    return passes


def test_a_value_beyond_the_sample_that_changes_a_type_makes_the_import_read_every_row(
    app: App, tmp_path: Path, small_sample: int, type_passes: list[int | None]
) -> None:
    """Each column's first rows suggest a type that a later value contradicts: the fields end as a guess over
    every value would make them, and every value is stored as that type."""
    lines = ["id,score,joined,code,note,flag"]
    lines += [f"{number},{number},,{number},x{number},yes" for number in range(1, 8)]
    lines.append("8,2.5,2024-02-29,A1,plain,no")  # score: a decimal; joined: a first (date) value; code: text
    result = import_profiles(app.store, write(tmp_path / "p.csv", "\n".join(lines) + "\n"), key="id", actor="t")
    assert type_passes == [small_sample, None]  # the first load was rolled back, the file read whole for types
    assert [(field.name, field.type) for field in result.fields] == [
        ("id", "text"), ("score", "number"), ("joined", "date"), ("code", "text"), ("note", "text"),
        ("flag", "boolean"),
    ]  # fmt: skip
    stored = {row[0]: row[1:] for row in rows(app)}
    assert len(stored) == 8
    assert stored["1"][:3] == (1.0, None, "1") and isinstance(stored["1"][0], float)
    assert str(stored["8"][1]) == "2024-02-29" and stored["8"][2:] == ("A1", "plain", False)


def test_values_beyond_the_sample_that_fit_their_types_are_loaded_in_one_pass(
    app: App, tmp_path: Path, small_sample: int, type_passes: list[int | None]
) -> None:
    lines = ["id,score,day"] + [f"{number},{number * 3},2024-01-{number:02d}" for number in range(1, 20)]
    result = import_profiles(app.store, write(tmp_path / "p.csv", "\n".join(lines) + "\n"), key="id", actor="t")
    assert type_passes == [small_sample]  # the whole file was never read for types
    assert [field.type for field in result.fields] == ["text", "integer", "date"]
    assert sorted(row[1] for row in rows(app)) == [number * 3 for number in range(1, 20)]


def test_a_file_broken_after_a_changed_type_is_refused_and_the_previous_profiles_stay(
    app: App, tmp_path: Path, small_sample: int
) -> None:
    import_profiles(app.store, write(tmp_path / "good.csv", "id,email\n7,kept@x.io\n"), key="id", actor="t")
    lines = ["id,score"] + [f"{number},{number}" for number in range(1, 6)] + ["6,1.5", '7,"8', "9,9"]
    with pytest.raises(InvalidInput, match="line 9: malformed CSV"):
        import_profiles(app.store, write(tmp_path / "bad.csv", "\n".join(lines) + "\n"), key="id", actor="t")
    assert rows(app) == [("7", "kept@x.io")]
    assert "profiles_loading" not in inspect(app.store.engine).get_table_names()


def test_the_longest_key_allowed_fits_every_store_index_and_a_longer_one_is_refused_by_row(
    app: App, tmp_path: Path
) -> None:
    """500 characters of four UTF-8 bytes each still fit PostgreSQL's index entry (2,704 bytes at most); a
    9,000-character key was refused by PostgreSQL itself as "ProgramLimitExceeded", naming neither row nor fix."""
    longest = "\U0001f600" * importer.MAX_KEY_LENGTH
    loaded = import_profiles(
        app.store, write(tmp_path / "ok.csv", f"id,email\n{longest},a@x.io\n"), key="id", actor="t"
    )
    assert loaded.rows == 1 and rows(app) == [(longest, "a@x.io")]
    content = f"id,email\n7,b@x.io\n{'x' * 9_000},c@x.io\n"
    with pytest.raises(InvalidInput, match="row 2: the key in column 'id' has 9,000 characters") as refused:
        import_profiles(app.store, write(tmp_path / "long.csv", content), key="id", actor="t")
    assert refused.value.field == "key"
    assert rows(app) == [(longest, "a@x.io")]


def test_a_header_too_long_for_the_store_is_refused_naming_it(app: App, tmp_path: Path) -> None:
    """PostgreSQL cuts names to 63 bytes: two long headers alike in their first 63 clashed ("DuplicateColumn")."""
    import_profiles(app.store, write(tmp_path / "first.csv", "id,email\n7,kept@x.io\n"), key="id", actor="t")
    fits, too_long = "B" * 63, "A" * 63 + "x"
    content = f"id,{fits},{too_long},{'A' * 63}y\n1,p,q,r\n"
    if app.store.engine.dialect.name == "sqlite":  # SQLite keeps names of any length (SQLAlchemy stops at 9,999)
        assert import_profiles(app.store, write(tmp_path / "long.csv", content), key="id", actor="t").rows == 1
        with pytest.raises(InvalidInput, match="the field 'a{60}\\.\\.\\.a{19}z', 10,000 characters long") as refused:
            import_profiles(app.store, write(tmp_path / "huge.csv", f"id,{'A' * 9_999}z\n1,p\n"), key="id", actor="t")
        assert len(refused.value.message) < 300  # the name's middle left out
        return
    with pytest.raises(InvalidInput, match=f"the column '{too_long}' becomes the field '{too_long.lower()}', 64 "):
        import_profiles(app.store, write(tmp_path / "long.csv", content), key="id", actor="t")
    assert rows(app) == [("7", "kept@x.io")]
    path = write(tmp_path / "fits.csv", f"id,{fits}\n1,p\n")
    assert import_profiles(app.store, path, key="id", actor="t").fields[1].name == fits.lower()


def test_a_refused_duplicate_key_leaves_nothing_behind_and_the_fixed_file_loads(app: App, tmp_path: Path) -> None:
    """The unique index finds the duplicate; its failure is undone alone, so the duplicate can still be named
    (PostgreSQL refuses every later statement of a failed transaction), and a retry reuses the index's name."""
    import_profiles(app.store, write(tmp_path / "first.csv", "id,email\n7,kept@x.io\n8,b@x.io\n"), key="id", actor="t")
    bad = write(tmp_path / "bad.csv", "id,email\n7,a@x.io\n8,b@x.io\n8,c@x.io\n9,d@x.io\n8,e@x.io\n")
    with pytest.raises(InvalidInput, match="the key '8' appears 3 times in column 'id'"):
        import_profiles(app.store, bad, key="id", actor="t")
    assert rows(app) == [("7", "kept@x.io"), ("8", "b@x.io")]
    fixed = import_profiles(
        app.store, write(tmp_path / "fixed.csv", "id,email\n7,a@x.io\n8,c@x.io\n"), key="id", actor="t"
    )
    assert fixed.rows == 2 and rows(app) == [("7", "a@x.io"), ("8", "c@x.io")]
    indexes = inspect(app.store.engine).get_indexes("profiles")
    assert [(index["column_names"], bool(index["unique"])) for index in indexes] == [(["id"], True)]


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> int:
    """Rows loaded 3 at a time, so a short file spans many chunks."""
    monkeypatch.setattr(importer, "INSERT_CHUNK", 3)
    return 3


@pytest.mark.parametrize(
    ("content", "message"),
    [
        # A quoted line break makes lines and rows differ: the line is still the file's own.
        ('id,note\n1,a\n2,"two\nlines"\n3,c\n4,d\n5,e\n6,f,extra\n7,g\n', "line 8: 3 fields where the header has 2"),
        ("id,note\n1,a\n2,b\n3,c\n4,d\n \t,e\n6,f\n", "row 5 has no value in the key column 'id'"),
        ("id,note\n1,a\n2,b\n3,c\n4,d\n5,e\n6,f\n7,g\n7,h\n", "the key '7' appears 2 times"),
    ],
)
def test_a_fault_in_a_later_chunk_is_named_by_its_own_line_or_row(
    app: App, tmp_path: Path, small_chunks: int, content: str, message: str
) -> None:
    import_profiles(app.store, write(tmp_path / "good.csv", "id,email\n7,kept@x.io\n"), key="id", actor="t")
    with pytest.raises(InvalidInput, match=message):
        import_profiles(app.store, write(tmp_path / "bad.csv", content), key="id", actor="t")
    assert rows(app) == [("7", "kept@x.io")]


def test_blank_lines_anywhere_are_skipped_even_a_chunk_of_them(app: App, tmp_path: Path, small_chunks: int) -> None:
    content = "id,orders,day\n1,1,2024-01-01\n\n\n\n\n2,,\n\n3,3,2024-01-03\n4,4,\n\n"
    result = import_profiles(app.store, write(tmp_path / "p.csv", content), key="id", actor="t")
    assert result.rows == 4
    assert rows(app) == [("1", 1, date(2024, 1, 1)), ("2", None, None), ("3", 3, date(2024, 1, 3)), ("4", 4, None)]


def test_a_value_that_no_longer_converts_is_named_by_its_row_and_field(
    app: App, tmp_path: Path, small_chunks: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file that changes between reading its types and loading it: the value is named, nothing is replaced."""
    import_profiles(app.store, write(tmp_path / "good.csv", "id,email\n7,kept@x.io\n"), key="id", actor="t")
    path = write(tmp_path / "p.csv", "id,orders\n1,1\n2,2\n3,3\n4,4\n5,five\n6,6\n")
    guess_types = importer._csv_fields

    def read_before_the_change(*arguments: object, **options: object) -> object:
        fields, _ = guess_types(*arguments, **options)  # type: ignore[arg-type]
        return [importer.Field(field.name, "integer", field.source_name) for field in fields], None

    monkeypatch.setattr(importer, "_csv_fields", read_before_the_change)
    with pytest.raises(InvalidInput, match="row 5, field orders: 'five' is not an integer"):
        import_profiles(app.store, path, key="id", actor="t")
    assert rows(app) == [("7", "kept@x.io")]


def test_a_moment_beyond_the_sample_that_has_the_form_but_not_a_real_day_makes_the_column_text(
    app: App, tmp_path: Path, small_sample: int, type_passes: list[int | None]
) -> None:
    """Moments are parsed once, after a check of their form: one that fails to parse still changes the type."""
    lines = ["id,joined"] + [f"{number},2024-01-0{number}T10:00:00Z" for number in range(1, 7)]
    lines.append("7,2024-02-30T10:00:00Z")
    result = import_profiles(app.store, write(tmp_path / "p.csv", "\n".join(lines) + "\n"), key="id", actor="t")
    assert type_passes == [small_sample, None]
    assert [field.type for field in result.fields] == ["text", "text"]
    assert rows(app)[-1] == ("7", "2024-02-30T10:00:00Z")


def _parquet_with(tmp_path: Path, names: object, ids: object = None) -> Path:
    count = len(names)  # type: ignore[arg-type]
    table = arrow.table({"id": ids if ids is not None else [str(number) for number in range(count)], "name": names})
    parquet.write_table(table, tmp_path / "p.parquet")
    return tmp_path / "p.parquet"


@pytest.mark.parametrize("encoded", [False, True])
def test_a_nul_in_a_parquet_text_value_is_refused_naming_its_row_and_column(
    app: App, tmp_path: Path, small_chunks: int, encoded: bool
) -> None:
    import_profiles(app.store, write(tmp_path / "good.csv", "id,email\n7,kept@x.io\n"), key="id", actor="t")
    names = arrow.array(["a", "b", "c", "d", "e\x00f", "g"])
    path = _parquet_with(tmp_path, names.dictionary_encode() if encoded else names)
    with pytest.raises(InvalidInput, match="row 5, column 'name' holds a NUL character"):
        import_profiles(app.store, path, key="id", actor="t")
    assert rows(app) == [("7", "kept@x.io")]


def test_a_parquet_row_without_a_key_is_refused_naming_it(app: App, tmp_path: Path, small_chunks: int) -> None:
    path = _parquet_with(tmp_path, ["a", "b", "c", "d", "e"], ids=[1, 2, 3, 4, None])
    with pytest.raises(InvalidInput, match="row 5 has no value in the key column 'id'"):
        import_profiles(app.store, path, key="id", actor="t")
    loaded = import_profiles(app.store, _parquet_with(tmp_path, ["a", "b"], ids=[10, 2]), key="id", actor="t")
    assert loaded.rows == 2 and rows(app) == [("10", "a"), ("2", "b")]  # keys are text, whatever their type


@pytest.mark.parametrize("fails", [False, True])
def test_cycle_collection_is_off_only_while_rows_load(app: App, tmp_path: Path, small_chunks: int, fails: bool) -> None:
    seen: list[bool] = []
    content = "id,orders\n1,1\n2,2\n3,3\n4,4\n" + ("4,5\n" if fails else "5,5\n")
    path = write(tmp_path / "p.csv", content)
    try:
        if fails:
            with pytest.raises(InvalidInput, match="appears 2 times"):
                import_profiles(app.store, path, key="id", actor="t", progress=lambda *_: seen.append(gc.isenabled()))
        else:
            import_profiles(app.store, path, key="id", actor="t", progress=lambda *_: seen.append(gc.isenabled()))
        assert False in seen  # while loading
        assert gc.isenabled()
        gc.disable()  # a caller that keeps it off finds it off after
        import_profiles(app.store, write(tmp_path / "q.csv", "id\n1\n"), key="id", actor="t", allow_shrink=True)
        assert not gc.isenabled()
    finally:
        gc.enable()
