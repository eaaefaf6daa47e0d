"""Profile files and exports set up carelessly or to hurt: nothing already stored is lost, every refusal names
the problem and the fix, and what reaches Constant Contact is what it accepts."""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from segport.errors import InvalidInput
from segport.exports import launch
from segport.exports import service as exports
from segport.profiles.importer import import_profiles
from segport.profiles.service import describe
from segport.runs.history import show_run
from segport.segments.service import create_segment
from tests.support.app import App


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


@pytest.fixture
def loaded(app: App, tmp_path: Path) -> App:
    rows = [["id", "email", "first_name", "orders"]]
    rows += [[str(number), f"p{number}@example.com", f"Name{number}", str(number)] for number in range(42)]
    import_profiles(app.store, write_csv(tmp_path / "first.csv", rows), key="id", actor="t")
    return app


@pytest.mark.parametrize(
    "content",
    [
        b"id,email,first_name,orders\n",
        b"\x00\x00\x00\x00\n",
        b"id,email,first_name,orders\n1,a@b.co,A,1\n",
        b"id,email,first_name,orders\n1,a\x00@b.co,A,1\n2,b@b.co,B,2\n",
    ],
)
def test_an_import_that_would_empty_or_gut_the_profiles_is_refused_and_changes_nothing(
    loaded: App, tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "careless.csv"
    path.write_bytes(content)
    with pytest.raises(InvalidInput) as refused:
        import_profiles(loaded.store, path, key="id", actor="t")
    message = str(refused.value)
    if b"\x00" in content:
        assert "holds a NUL character" in message and "line" in message
    else:
        assert "importing it would replace the 42 loaded now" in message and refused.value.field == "allow_shrink"
    assert describe(loaded.store).row_count == 42


def test_a_smaller_import_goes_through_when_allowed(loaded: App, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "header.csv", [["id", "email", "first_name", "orders"]])
    assert import_profiles(loaded.store, path, key="id", actor="t", allow_shrink=True).rows == 0
    assert describe(loaded.store).row_count == 0


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda directory: directory, "is a folder, not a file"),
        (
            lambda directory: write_csv(directory / "wide.csv", [[f"c{n}" for n in range(10_000)], ["x"] * 10_000]),
            "has 10,000 columns; segport keeps up to 500",
        ),
    ],
)
def test_files_that_cannot_be_profiles_are_refused_clearly(
    loaded: App, tmp_path: Path, make: object, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        import_profiles(loaded.store, make(tmp_path), key="c0", actor="t")  # type: ignore[operator]
    assert describe(loaded.store).row_count == 42


def test_parquet_with_nested_columns_or_too_much_data_is_refused(loaded: App, tmp_path: Path) -> None:
    import pyarrow as arrow
    import pyarrow.parquet as parquet

    nested = tmp_path / "nested.parquet"
    schema = arrow.schema(
        [
            ("id", arrow.string()),
            ("tags", arrow.list_(arrow.string())),
            ("extra", arrow.struct([("k", arrow.int64())])),
            ("map", arrow.map_(arrow.string(), arrow.int64())),
        ]
    )
    rows = {"id": ["1"], "tags": [["a", "b"]], "extra": [{"k": 1}], "map": [[("a", 1)]]}
    parquet.write_table(arrow.Table.from_pydict(rows, schema=schema), nested)
    with pytest.raises(InvalidInput, match="tags, extra, map hold lists, maps or records"):
        import_profiles(loaded.store, nested, key="id", actor="t")
    bomb = tmp_path / "bomb.parquet"  # a few KB on disk, hundreds of MB once decompressed
    parquet.write_table(
        arrow.table({"id": [str(n) for n in range(200_000)], "blob": ["x" * 2_000] * 200_000}),
        bomb,
        compression="zstd",
    )
    limited = loaded.reopen(profiles_max_bytes=50_000_000)
    with pytest.raises(InvalidInput, match="expands to about .* bytes of data; segport imports up to 50,000,000"):
        import_profiles(limited.store, bomb, key="id", actor="t")
    assert describe(loaded.store).row_count == 42


def test_parquet_columns_of_times_bytes_codes_and_nanoseconds_are_kept_as_their_field_type(
    loaded: App, tmp_path: Path
) -> None:
    """Each store keeps the same values: times, durations and UTF-8 bytes as text, a dictionary-encoded column as
    its values' type (PostgreSQL's binary COPY takes nothing else), a moment in nanoseconds to the microsecond."""
    from datetime import datetime, time, timedelta

    import pyarrow as arrow
    import pyarrow.parquet as parquet
    from sqlalchemy import select

    from segport.profiles.source import load_source

    path = tmp_path / "odd.parquet"
    table = arrow.table(
        {
            "id": ["1", "2"],
            "email": ["a@example.com", "b@example.com"],
            "opens_at": arrow.array([time(9, 30), None], arrow.time64("us")),
            "code": arrow.array([b"AB-1", b"\x01"], arrow.binary()),
            "wait": arrow.array([timedelta(seconds=5), None], arrow.duration("s")),
            "orders": arrow.array([3, 4]).dictionary_encode(),
            "country": arrow.array(["CA", "CA"]).dictionary_encode(),
            "seen": arrow.array([1_700_000_000_123_456_789, None], arrow.timestamp("ns")),
        }
    )
    parquet.write_table(table, path)
    import_profiles(loaded.store, path, key="id", actor="t", allow_shrink=True)
    kinds = {field.name: field.type for field in describe(loaded.store).fields}
    assert kinds == {
        "id": "text",
        "email": "text",
        "opens_at": "text",
        "code": "text",
        "wait": "text",
        "orders": "integer",
        "country": "text",
        "seen": "datetime",
    }
    source = load_source(loaded.store)
    with loaded.store.read() as db:
        rows = db.execute(select(source.table).order_by(source.table.c.id)).all()
    assert [tuple(row) for row in rows] == [
        ("1", "a@example.com", "09:30:00.000000", "AB-1", "5", 3, "CA", datetime(2023, 11, 14, 22, 13, 20, 123456)),
        ("2", "b@example.com", None, "\x01", None, 4, "CA", None),
    ]


@pytest.mark.parametrize(
    ("column", "message"),
    [
        (
            {"big": ([1, 2**64 - 1], "uint64")},
            "row 2, column 'big' holds 18446744073709551615, beyond the largest whole number a profile field keeps",
        ),
        ({"code": ([b"ok", b"\xff\xfe"], "binary")}, "column 'code' holds values of type binary that are not text"),
        ({"code": ([b"ok", b"a\x00b"], "binary")}, "row 2, column 'code' holds a NUL character"),
    ],
)
def test_parquet_values_no_store_keeps_are_refused_and_change_nothing(
    loaded: App, tmp_path: Path, column: dict[str, tuple[list[object], str]], message: str
) -> None:
    import pyarrow as arrow
    import pyarrow.parquet as parquet

    ((name, (values, kind)),) = column.items()
    path = tmp_path / "hostile.parquet"
    parquet.write_table(
        arrow.table({"id": ["1", "2"], name: arrow.array(values, getattr(arrow, kind)())}),
        path,
    )
    with pytest.raises(InvalidInput, match=message):
        import_profiles(loaded.store, path, key="id", actor="t", allow_shrink=True)
    assert describe(loaded.store).row_count == 42


def test_an_export_whose_email_field_is_not_text_is_refused(loaded: App) -> None:
    loaded.connect("CC")
    create_segment(loaded.store, name="All", rule_text="orders >= 0", actor="t")
    with pytest.raises(InvalidInput, match="The field 'orders' holds integer values, not email addresses"):
        exports.add_export(
            loaded.store,
            loaded.settings,
            name="E",
            connection="CC",
            list_id=loaded.emulator.create_list("L"),
            email_field="orders",
            segment_names=["All"],
            actor="t",
            http=loaded.http,
        )


def test_addresses_mail_systems_refuse_never_reach_the_list_and_names_with_control_characters_are_counted(
    app: App, tmp_path: Path
) -> None:
    rows = [["id", "email", "first_name"]]
    bad = [".lead@example.com", "trail.@example.com", "x@-host.example.com", "bell\x07in@example.com"]
    rows += [[f"b{number}", email, "Bad"] for number, email in enumerate(bad)]
    rows += [["g1", "good@example.com", "Ann\nMarie"], ["g2", "fine@example.com", "Tab\tbed"]]
    import_profiles(app.store, write_csv(tmp_path / "mixed.csv", rows), key="id", actor="t")
    app.connect("CC")
    create_segment(app.store, name="All", rule_text="id is not empty", actor="t")
    list_id = app.emulator.create_list("Mixed")
    exports.add_export(
        app.store,
        app.settings,
        name="E",
        connection="CC",
        list_id=list_id,
        email_field="email",
        first_name_field="first_name",
        segment_names=["All"],
        actor="t",
        http=app.http,
    )
    view = show_run(app.store, run_id=launch.run_export(app.store, app.settings, name="E", actor="t", http=app.http))
    assert view.status == "Successful", view.message
    assert view.counts["invalid_email"] == 4 and view.counts["cleaned"] == 2 and view.counts["errors"] == 0
    assert set(app.emulator.members(list_id)) == {"good@example.com", "fine@example.com"}
    assert app.emulator.contact("good@example.com")["first_name"] == "Ann Marie"  # type: ignore[index]
    for email in bad:  # the emulator refuses them too: segport's rules and Constant Contact's do not drift apart
        assert not _emulator_accepts(app, email)


def _emulator_accepts(app: App, email: str) -> bool:
    from segport.emulator.world import is_valid_email

    return is_valid_email(email)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300))
def test_a_failed_import_never_changes_the_profiles(loaded: App, tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "fuzzed.csv"
    path.write_bytes(b"id,email,first_name,orders\n" + content)
    before = describe(loaded.store)
    try:
        import_profiles(loaded.store, path, key="id", actor="t")
    except InvalidInput:
        after = describe(loaded.store)
        assert (after.row_count, [f.name for f in after.fields]) == (before.row_count, [f.name for f in before.fields])


def packed(directory: Path, name: str, pack: Callable[[bytes], bytes]) -> Path:
    path = directory / name
    path.write_bytes(pack(b"id,email,first_name,orders\n1,a@b.co,A,1\n"))
    return path


def zipped(content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("xl/workbook.xml", content)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "pack", "message", "fix"),
    [
        ("profiles.csv", gzip.compress, "profiles.csv is a gzip-compressed file, not CSV text.", "(gunzip)"),
        ("profiles.csv.bz2", bz2.compress, "is a bzip2-compressed file, not CSV text.", "(bunzip2)"),
        ("profiles.xz", lzma.compress, "is an xz-compressed file, not CSV text.", "(unxz)"),
        ("profiles.xlsx", zipped, "is a ZIP archive (an Excel .xlsx workbook is one)", "CSV UTF-8 (Comma delimited)"),
        ("old.xls", lambda content: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + content, "is an Excel .xls", "Save As"),
    ],
)
def test_a_compressed_or_spreadsheet_file_is_named_with_its_fix(
    loaded: App, tmp_path: Path, name: str, pack: Callable[[bytes], bytes], message: str, fix: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        import_profiles(loaded.store, packed(tmp_path, name, pack), key="id", actor="t")
    assert message in refused.value.message and fix in refused.value.hint, str(refused.value)
    assert describe(loaded.store).row_count == 42


@pytest.mark.parametrize("separator", [b";", b"\t", b"|"])
def test_a_file_separated_by_semicolons_tabs_or_bars_is_read_by_its_separator(
    loaded: App, tmp_path: Path, separator: bytes
) -> None:
    path = tmp_path / "excel.csv"  # Excel writes semicolons where the decimal mark is a comma
    rows = [
        separator.join([b"id", b"email", b"first_name", b"orders"]),
        separator.join([b"1", b"a@b.co", b'"Ann; Jr, \tthe first | II"', b"1"]),  # every separator inside quotes
        separator.join([b"2", b"b@b.co", b"Bob", b"2"]),
    ]
    path.write_bytes(b"\r\n".join(rows) + b"\r\n")
    imported = import_profiles(loaded.store, path, key="id", actor="t", allow_shrink=True)
    assert imported.rows == 2 and [field.name for field in imported.fields] == ["id", "email", "first_name", "orders"]
    with loaded.store.read() as db:
        names = dict(db.execute(text("SELECT id, first_name FROM profiles ORDER BY id")).all())
    assert names == {"1": "Ann; Jr, \tthe first | II", "2": "Bob"}


def test_a_comma_file_whose_header_holds_other_separators_stays_comma_separated(loaded: App, tmp_path: Path) -> None:
    path = tmp_path / "commas.csv"
    path.write_bytes(b'id,email,"a;b;c;d",orders\n1,a@b.co,x,1\n')
    imported = import_profiles(loaded.store, path, key="id", actor="t", allow_shrink=True, allow_breaking=True)
    assert [field.source_name for field in imported.fields] == ["id", "email", "a;b;c;d", "orders"]


def test_text_that_only_starts_like_a_signature_is_read_as_csv(loaded: App, tmp_path: Path) -> None:
    path = tmp_path / "bzh.csv"  # "BZh" alone is not bzip2's signature: a column may be named so
    path.write_bytes(b"BZh,id,email\nx,1,a@b.co\n")
    assert import_profiles(loaded.store, path, key="id", actor="t", allow_shrink=True, allow_breaking=True).rows == 1


def test_a_parquet_file_named_csv_is_read_as_parquet(loaded: App, tmp_path: Path) -> None:
    import pyarrow as arrow
    import pyarrow.parquet as parquet

    path = tmp_path / "profiles.csv"
    rows = {"id": [str(n) for n in range(50)], "email": [f"p{n}@b.co" for n in range(50)]}
    parquet.write_table(arrow.table(rows), path)
    imported = import_profiles(loaded.store, path, key="id", actor="t", allow_shrink=True, allow_breaking=True)
    assert imported.rows == 50 and [field.name for field in imported.fields] == ["id", "email"]


def test_a_pipe_is_refused_as_not_a_regular_file(loaded: App, tmp_path: Path) -> None:
    pipe = tmp_path / "profiles.csv"
    os.mkfifo(pipe)  # what `segport profiles import <(zcat profiles.csv.gz)` hands over
    with pytest.raises(InvalidInput, match="is not a regular file \\(a pipe or a device\\)"):
        import_profiles(loaded.store, pipe, key="id", actor="t")
    assert describe(loaded.store).row_count == 42
