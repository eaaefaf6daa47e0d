"""Cut contacts into bulk-import bodies at BOTH of Constant Contact's caps: 40,000 contacts and 4 MB.

Each contact is serialised once, its bytes counted, and the body assembled from those bytes, so the size
check measures exactly what is sent (non-Latin names take two to four bytes a character).
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

    _HEAD = b'{"import_data":['

    def __init__(
        self,
        list_ids: Sequence[str],
        *,
        max_contacts: int = MAX_IMPORT_CONTACTS,
        max_bytes: int = MAX_IMPORT_BYTES,
    ) -> None:
        if not 1 <= len(list_ids) <= MAX_LIST_IDS:
            raise ValueError(f"an import targets 1 to {MAX_LIST_IDS} lists, not {len(list_ids)}")
        self._tail = b'],"list_ids":' + orjson.dumps(list(list_ids)) + b"}"
        self._max_contacts = min(max_contacts, MAX_IMPORT_CONTACTS)
        # Strictly below the cap: the API drops whatever lies beyond it.
        self._max_bytes = min(max_bytes, MAX_IMPORT_BYTES) - 1
        self._items: list[bytes] = []
        self._size = len(self._HEAD) + len(self._tail)

    def add(self, email: str, first_name: str | None = None, last_name: str | None = None) -> ImportBatch | None:
        """Add one contact; return the previous batch if this contact did not fit in it."""
        row = {"email": email}
        if first_name:
            row["first_name"] = first_name
        if last_name:
            row["last_name"] = last_name
        item = orjson.dumps(row)
        added = len(item) + (1 if self._items else 0)  # the comma between items
        finished = None
        if self._items and (len(self._items) >= self._max_contacts or self._size + added > self._max_bytes):
            finished = self.flush()
            added = len(item)
        self._items.append(item)
        self._size += added
        return finished

    def flush(self) -> ImportBatch | None:
        """The batch collected so far, or None when it is empty."""
        if not self._items:
            return None
        body = b"".join((self._HEAD, b",".join(self._items), self._tail))
        batch = ImportBatch(body=body, count=len(self._items))
        self._items = []
        self._size = len(self._HEAD) + len(self._tail)
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
