"""Reading profile files as streams of rows: CSV (UTF-8, with or without BOM; commas, semicolons, tabs or bars) and
Parquet."""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from segport.errors import InvalidInput
from segport.limits import LARGEST_INTEGER

CSV_FIELD_LIMIT = 10_000_000
# What one import may hold: columns (every database segport uses has a cap near 1,600-2,000), and for Parquet,
# whose pages may expand a thousandfold, the data once decompressed.
MAX_COLUMNS = 500
BLOCK = 1 << 20  # bytes read from a CSV file at a time
SEPARATORS = (",", ";", "\t", "|")  # the first wins a tie

# The first bytes of files that are not text, as people send them in place of a CSV file: what each is, and the
# fix. Read as text, each failed on its first NUL byte ("is this a CSV file?"), which named neither.
PARQUET_MAGIC = b"PAR1"
PACKED = [
    # (a regular expression the first bytes match, what the file is, the fix)
    (rb"\x1f\x8b", "a gzip-compressed file", "Decompress it (gunzip), then import the CSV file inside."),
    (
        rb"PK\x03\x04",
        "a ZIP archive (an Excel .xlsx workbook is one)",
        'In Excel, Save As "CSV UTF-8 (Comma delimited)"; or unzip it and import the CSV file inside.',
    ),
    (
        rb"\xd0\xcf\x11\xe0",
        "an Excel .xls workbook",
        'In Excel, Save As "CSV UTF-8 (Comma delimited)", then import that file.',
    ),
    (rb"BZh[1-9]1AY&SY", "a bzip2-compressed file", "Decompress it (bunzip2), then import the CSV file inside."),
    (rb"\xfd7zXZ\x00", "an xz-compressed file", "Decompress it (unxz), then import the CSV file inside."),
    (rb"\(\xb5/\xfd", "a zstd-compressed file", "Decompress it (unzstd), then import the CSV file inside."),
]


class CsvRows:
    """Rows of a CSV file as lists of strings; errors name the line.

    The file is decoded by the io module and split by the csv module, both in C (a line-by-line loop in Python
    here cost seconds per million rows); the importer samples types one row at a time and loads in chunks. An
    encoding error is only located (its line found) once it has happened.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = path.stat().st_size
        self.header: list[str] = []
        self.separator = _separator_of(path)
        self._raw: IO[bytes] | None = None

    @property
    def bytes_read(self) -> int:
        """How far the reading is, in bytes of the file (read ahead by a block: for progress only)."""
        return self._raw.tell() if self._raw is not None and not self._raw.closed else 0

    def __iter__(self) -> Generator[list[str], None, None]:
        with self._reading() as (reader, width):
            for row in reader:
                if not row:
                    continue
                if len(row) != width:
                    raise InvalidInput(
                        f"{self.path.name}, line {reader.line_num}: {len(row)} fields where the header has {width}.",
                        hint="Quote values that contain commas or line breaks, then import again.",
                    )
                yield row

    def chunks(self, size: int) -> Iterator[list[Sequence[Any]]]:
        """The rows, up to `size` at a time, as columns (a tuple of values per column).

        A million rows go to the store in chunks; taking them from the csv module a chunk at a time and turning
        each into columns happens in C, and lets the importer convert a column's values in one call. A row of
        the wrong width is reported as `__iter__` reports it, naming its line: the file is read again one row
        at a time to find that line (a row may span several lines, so the chunk cannot tell).
        """
        with self._reading() as (reader, width):
            while chunk := list(itertools.islice(reader, size)):
                widths = set(map(len, chunk))
                if widths != {width}:
                    if 0 in widths:  # blank lines
                        chunk = [row for row in chunk if row]
                    if set(map(len, chunk)) - {width}:
                        self._raise_at_the_wrong_width()
                    if not chunk:
                        continue
                columns: list[Sequence[Any]] = list(zip(*chunk, strict=True))
                yield columns

    def _raise_at_the_wrong_width(self) -> None:
        for _ in self:
            pass
        raise InvalidInput(
            f"{self.path.name} changed while it was being read.", hint="Import it again once it is written."
        )

    @contextmanager
    def _reading(self) -> Iterator[tuple[Any, int]]:
        """A csv reader past the header, and the header's width; the file's faults as errors naming the line."""
        csv.field_size_limit(CSV_FIELD_LIMIT)
        with self.path.open("rb", buffering=0) as raw:
            self._raw = raw
            text = io.TextIOWrapper(io.BufferedReader(_NulGuard(raw), BLOCK), encoding="utf-8-sig", newline="")
            reader = csv.reader(text, strict=True, delimiter=self.separator)
            try:
                header = next(reader, None)
                if header is None:
                    raise InvalidInput(f"{self.path.name} is empty.", hint="Export the profiles with a header line.")
                self.header = header
                _check_columns(self.path, len(header))
                yield reader, len(header)
            except UnicodeDecodeError:
                raise InvalidInput(
                    f"{self.path.name}, line {_first_line_not_utf8(self.path)}: the bytes are not UTF-8.",
                    hint="Save the file as UTF-8 (with or without BOM) and import again.",
                ) from None
            except _NulFound:
                raise InvalidInput(
                    f"{self.path.name}, line {_first_line_with_nul(self.path)}: holds a NUL character (0x00), "
                    "which no database keeps in text.",
                    hint="Is this a CSV file? Remove the NUL characters (or export the file again), then import it.",
                ) from None
            except csv.Error as exc:
                raise InvalidInput(
                    f"{self.path.name}, line {reader.line_num}: malformed CSV ({exc}).",
                    hint="Fix the line (quotes must be balanced and doubled inside values), then import again.",
                ) from None


class _NulFound(Exception):
    pass


class _NulGuard(io.RawIOBase):
    """The file's bytes, refused at the first NUL: the csv module takes NUL into values, no database keeps it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)
        data = self._raw.read(len(view))
        if b"\x00" in data:
            raise _NulFound()
        view[: len(data)] = data
        return len(data)


def _first_line_not_utf8(path: Path) -> int:
    decoder = codecs.getincrementaldecoder("utf-8-sig")("strict")
    number = 0
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                decoder.decode(line)
            except UnicodeDecodeError:
                return number
    return number + 1  # cut inside the last character


def _first_line_with_nul(path: Path) -> int:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if b"\x00" in line:
                return number
    return 0


class ParquetRows:
    """Rows of a Parquet file, a record batch at a time; column types come from the file's schema."""

    def __init__(self, path: Path) -> None:
        import pyarrow.parquet as parquet

        try:
            self._file = parquet.ParquetFile(path)
        except Exception as exc:
            raise InvalidInput(
                f"{path.name} is not a readable Parquet file ({type(exc).__name__}: {str(exc)[:200]}).",
                hint="Check the file, or export the profiles as CSV.",
            ) from None
        self.path = path
        self.size = path.stat().st_size
        self.header = list(self._file.schema_arrow.names)
        self.rows_total = self._file.metadata.num_rows
        self.bytes_read = 0
        _check_columns(path, len(self.header))
        nested = [field.name for field in self._file.schema_arrow if _is_nested(field.type)]
        if nested:
            raise InvalidInput(
                f"{path.name}: the columns {', '.join(nested[:5])} hold lists, maps or records; a profile field holds "
                "one value.",
                hint="Flatten those columns into plain ones (or drop them) before importing.",
            )

    def expanded_bytes(self) -> int:
        """An estimate of the data once decoded, from its first rows: dictionary and run-length encoding make
        the file's own sizes say little about what a million repeated values become."""
        first = next(self._file.iter_batches(batch_size=1_000), None)
        if first is None or first.num_rows == 0:
            return 0
        return int(first.nbytes / first.num_rows * self.rows_total)

    def kinds(self) -> list[str]:
        """Each column's field type, from the file's schema (see `parquet_kind`)."""
        return [parquet_kind(field.type) for field in self._file.schema_arrow]

    def chunks(self, size: int) -> Iterator[list[Sequence[Any]]]:
        """The rows, up to `size` at a time, as columns (a list of values per column), each value as its field
        type holds it: a text field's times, bytes or durations become text (bytes must be UTF-8), a moment keeps
        its microseconds. Refused at the first text value holding a NUL, which no database keeps, and at a whole
        number beyond 64 bits."""
        kinds = self.kinds()
        done = 0
        for batch in self._file.iter_batches(batch_size=size):
            columns: list[Sequence[Any]] = []
            for name, kind, column in zip(self.header, kinds, batch.columns, strict=True):
                columns.append(self._values(column, name, kind, done))
            yield columns
            done += batch.num_rows
            self.bytes_read = int(self.size * done / max(1, self.rows_total))

    def _values(self, column: Any, name: str, kind: str, done: int) -> list[Any]:
        import pyarrow as arrow
        import pyarrow.compute as compute

        if arrow.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        if kind == "integer" and arrow.types.is_uint64(column.type):
            beyond = compute.greater(column, arrow.scalar(LARGEST_INTEGER, arrow.uint64()))
            if compute.any(beyond).as_py():
                row = done + beyond.to_pylist().index(True) + 1
                raise InvalidInput(
                    f"{self.path.name}: row {row}, column {name!r} holds {column[row - done - 1].as_py()}, beyond "
                    f"the largest whole number a profile field keeps ({LARGEST_INTEGER:,}).",
                    hint="Store that column as text (or as a decimal number) in the file, then import it.",
                )
        if kind == "datetime" and column.type.unit == "ns":
            # Python's moments stop at microseconds (and so do the stores'): the nanoseconds are dropped.
            column = compute.cast(column, arrow.timestamp("us", column.type.tz), safe=False)
        if kind != "text":
            return list(column.to_pylist())
        if not (arrow.types.is_string(column.type) or arrow.types.is_large_string(column.type)):
            try:
                column = compute.cast(column, arrow.string())
            except (arrow.ArrowInvalid, arrow.ArrowNotImplementedError):  # bytes not in UTF-8; a type with no text
                raise InvalidInput(
                    f"{self.path.name}: column {name!r} holds values of type {column.type} that are not text (bytes "
                    "not in UTF-8, or a type segport cannot read as text).",
                    hint="Store that column as text in the file (or drop it), then import it.",
                ) from None
        found = compute.match_substring(column, "\x00")
        if compute.any(found).as_py():
            row = done + found.to_pylist().index(True) + 1
            raise InvalidInput(
                f"{self.path.name}: row {row}, column {name!r} holds a NUL character (0x00), which no "
                "database keeps in text.",
                hint="Remove the NUL characters from the file, then import it.",
            )
        return list(column.to_pylist())


# The names an uploaded file may have (the API and the Profiles page keep it on the copy they import).
PARQUET_SUFFIXES = (".parquet", ".pq")
UPLOAD_SUFFIXES = (".csv", ".tsv", ".txt", *PARQUET_SUFFIXES)


def check_upload_name(name: str) -> None:
    """Refuse an upload whose name says it is neither CSV nor Parquet (an .xlsx, a .zip), before it is copied."""
    if Path(name).suffix.lower() not in UPLOAD_SUFFIXES:
        raise InvalidInput(
            f"{name!r} is not a CSV or Parquet file ({', '.join(UPLOAD_SUFFIXES)}).",
            hint='Upload a CSV or Parquet file; from Excel, Save As "CSV UTF-8".',
        )


def open_rows(path: Path) -> CsvRows | ParquetRows:
    if not path.exists():
        raise InvalidInput(f"There is no file {path}.", hint="Check the path and try again.")
    if path.is_dir():
        raise InvalidInput(f"{path} is a folder, not a file.", hint="Give the path of a CSV or Parquet file.")
    if not path.is_file():
        raise InvalidInput(
            f"{path} is not a regular file (a pipe or a device): segport reads a file more than once (its types "
            "first, then its rows).",
            hint="Save the profiles to a CSV or Parquet file, then import that file.",
        )
    try:
        with path.open("rb") as file:
            start = file.read(16)  # enough for every signature in PACKED
    except OSError as exc:
        raise InvalidInput(f"{path} cannot be read ({exc.strerror}).", hint="Check its permissions.") from None
    if path.suffix.lower() in PARQUET_SUFFIXES or start.startswith(PARQUET_MAGIC):
        return ParquetRows(path)  # by its content too: a Parquet file named .csv was read as broken text
    _refuse_packed(path, start)
    return CsvRows(path)


def _refuse_packed(path: Path, start: bytes) -> None:
    for magic, what, fix in PACKED:
        if re.match(magic, start, re.DOTALL):
            raise InvalidInput(f"{path.name} is {what}, not CSV text.", hint=fix)


def _separator_of(path: Path) -> str:
    """The file's separator, from its header line: of SEPARATORS, the one that splits it into the most columns
    (commas when none splits it). Excel writes semicolons wherever the decimal mark is a comma, whatever its
    format is called; database tools often write tabs. Read with commas, such a file was one column."""
    with path.open("rb") as file:
        line = file.readline(BLOCK).decode("utf-8-sig", "replace").rstrip("\r\n")
    chosen, widest = ",", 1
    for separator in SEPARATORS:
        try:
            width = len(next(csv.reader([line], delimiter=separator), []))
        except csv.Error:  # a NUL, a field over the limit: the reading names it, with its line
            continue
        if width > widest:
            chosen, widest = separator, width
    return chosen


def _check_columns(path: Path, width: int) -> None:
    if width > MAX_COLUMNS:
        raise InvalidInput(
            f"{path.name} has {width:,} columns; segport keeps up to {MAX_COLUMNS} fields per profile.",
            hint="Keep the columns segments and exports use, and import that file.",
        )


def parquet_kind(arrow_type: Any) -> str:
    """The field type of a Parquet column: a dictionary-encoded column is its values' type; every type that is
    none of the others (times, bytes, durations) is text."""
    import pyarrow as arrow

    if arrow.types.is_dictionary(arrow_type):
        return parquet_kind(arrow_type.value_type)
    if arrow.types.is_boolean(arrow_type):
        return "boolean"
    if arrow.types.is_integer(arrow_type):
        return "integer"
    if arrow.types.is_floating(arrow_type) or arrow.types.is_decimal(arrow_type):
        return "number"
    if arrow.types.is_date(arrow_type):
        return "date"
    if arrow.types.is_timestamp(arrow_type):
        return "datetime"
    return "text"


def _is_nested(arrow_type: Any) -> bool:
    import pyarrow as arrow

    if arrow.types.is_dictionary(arrow_type):
        return _is_nested(arrow_type.value_type)
    return bool(arrow.types.is_nested(arrow_type) or arrow.types.is_union(arrow_type) or arrow.types.is_map(arrow_type))
