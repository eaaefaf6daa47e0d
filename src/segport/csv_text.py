"""CSV downloads streamed in chunks: a million rows never sit in memory at once."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import quote

CHUNK_BYTES = 65_536


def csv_chunks(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """The header and the rows as CSV text, in pieces of about CHUNK_BYTES; None is written as empty."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(row)
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
