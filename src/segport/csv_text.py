"""CSV downloads streamed in chunks: a million rows never sit in memory at once."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import quote

CHUNK_BYTES = 65_536


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralised(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula, made plain text by a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_chunks(header: Sequence[str], rows: Iterable[Sequence[Any]], *, raw: bool = False) -> Iterator[str]:
    """The header and the rows as CSV text, in pieces of about CHUNK_BYTES; None is written as empty.

    Text that a spreadsheet would run as a formula gets a leading apostrophe, unless `raw` (SEGPORT_CSV_RAW)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header if raw else [neutralised(name) for name in header])
    for row in rows:
        writer.writerow(row if raw else [neutralised(value) for value in row])
        if buffer.tell() > CHUNK_BYTES:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def attachment(filename: str) -> dict[str, str]:
    """The header that makes a browser save the response as `filename` (any characters, RFC 6266)."""
    plain = "".join(
        character if (character.isascii() and character.isalnum()) or character in "-_." else "_"
        for character in filename
    )
    return {"Content-Disposition": f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename)}"}
