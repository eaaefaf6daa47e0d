"""Cut contacts into bulk-import bodies at BOTH of Constant Contact's caps: 40,000 contacts and 4 MB.

Each contact's serialised size is measured as it is added, so the size check counts exactly the bytes that
are sent (non-Latin names take two to four bytes a character). The rows are kept as dicts and the body is
serialised in one call: orjson's small bytes objects each hold a ~4 KB buffer, so keeping 40,000 of them
would cost 160 MB.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import orjson

from segport.constant_contact.models import MAX_IMPORT_BYTES, MAX_IMPORT_CONTACTS, MAX_LIST_IDS


@dataclass(frozen=True)
class ImportBatch:
    body: bytes
    count: int


class JsonImportBatcher:
    """Collects contact rows and hands back a finished `contacts_json_import` body whenever a cap is reached."""

    def __init__(
        self,
        list_ids: Sequence[str],
        *,
        max_contacts: int = MAX_IMPORT_CONTACTS,
        max_bytes: int = MAX_IMPORT_BYTES,
    ) -> None:
        if not 1 <= len(list_ids) <= MAX_LIST_IDS:
            raise ValueError(f"an import targets 1 to {MAX_LIST_IDS} lists, not {len(list_ids)}")
        self._list_ids = list(list_ids)
        # The body without contacts: {"import_data":[],"list_ids":[...]}
        self._overhead = len(orjson.dumps({"import_data": [], "list_ids": self._list_ids}))
        self._max_contacts = min(max_contacts, MAX_IMPORT_CONTACTS)
        # Strictly below the cap: the API drops whatever lies beyond it.
        self._max_bytes = min(max_bytes, MAX_IMPORT_BYTES) - 1
        self._rows: list[dict[str, str | int]] = []
        self._size = self._overhead

    def add(
        self,
        email: str,
        first_name: str | None = None,
        last_name: str | None = None,
        properties: dict[str, str | int] | None = None,
    ) -> ImportBatch | None:
        """Add one contact (with more properties: job_title, cf:NAME...); return the previous batch if this
        contact did not fit in it."""
        row: dict[str, str | int] = {"email": email}
        if first_name:
            row["first_name"] = first_name
        if last_name:
            row["last_name"] = last_name
        if properties:
            row.update(properties)
        length = len(orjson.dumps(row))
        added = length + (1 if self._rows else 0)  # the comma between items
        finished = None
        if self._rows and (len(self._rows) >= self._max_contacts or self._size + added > self._max_bytes):
            finished = self.flush()
            added = length
        self._rows.append(row)
        self._size += added
        return finished

    def flush(self) -> ImportBatch | None:
        """The batch collected so far, or None when it is empty."""
        if not self._rows:
            return None
        body = orjson.dumps({"import_data": self._rows, "list_ids": self._list_ids})
        if len(body) != self._size:  # the measurement is what guarantees the cap; never send unmeasured bytes
            raise AssertionError(f"import body is {len(body)} bytes, measured {self._size}")
        batch = ImportBatch(body=body, count=len(self._rows))
        self._rows = []
        self._size = self._overhead
        return batch


def json_import_batches(
    rows: Iterable[tuple[str, str | None, str | None]],
    list_ids: Sequence[str],
    *,
    max_contacts: int = MAX_IMPORT_CONTACTS,
    max_bytes: int = MAX_IMPORT_BYTES,
) -> Iterator[ImportBatch]:
    """Bodies for (email, first name, last name) rows, in order, each within both caps."""
    batcher = JsonImportBatcher(list_ids, max_contacts=max_contacts, max_bytes=max_bytes)
    for email, first_name, last_name in rows:
        finished = batcher.add(email, first_name, last_name)
        if finished is not None:
            yield finished
    last = batcher.flush()
    if last is not None:
        yield last
