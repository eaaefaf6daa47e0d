"""One process at a time per export on this machine: an OS file lock held for the length of a run.

The operating system releases the lock when the process ends, however it ends (SIGKILL included), so the
next `exports run` can resume an interrupted run safely, and a second one started while the first is
still working is refused instead of sending the same batches twice. Workers on several machines
coordinate through the database instead (leases, issue "Scheduled refresh ... workers").
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from segport.errors import Refused


@contextmanager
def export_lock(home: Path, export_id: int, export_name: str) -> Iterator[None]:
    directory = home / "locks"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"export-{export_id}.lock"
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Refused(
                f"The export {export_name!r} is being run by another segport process right now.",
                hint="Wait for it to finish; segport runs list --export NAME shows its progress.",
            ) from None
        yield
    finally:
        os.close(descriptor)  # closing releases the lock
