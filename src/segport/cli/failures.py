"""What the CLI says when something fails that is not a segport error: database trouble and the unexpected.

Neither prints a traceback, SQL or customer data: one line says what happened and what to do, and the full
report of an unexpected error goes to a log file whose path is printed.
"""

from __future__ import annotations

import os
import traceback
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.exc import DBAPIError, SQLAlchemyError

RESUME = "An interrupted export run resumes where it stopped: segport exports run NAME."


def database_trouble(exc: SQLAlchemyError, *, runs: bool = False, home: Path | None = None) -> tuple[str, str]:
    """(message, hint) for a database that could not be used, read from the driver's own message.

    `runs`: the command was running exports, so a run may be left to resume (any other command's failed
    transaction left nothing behind, and the resume hint would only mislead). `home`: the settings' data
    folder, when they were read, for the report of an unknown failure."""
    original = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    resume = f" {RESUME}" if runs else ""
    text = str(original).splitlines()[0].lower() if str(original) else ""
    if "locked" in text or "busy" in text:
        return (
            "The database is busy: another segport process held its write lock for longer than segport waits "
            "(SEGPORT_DATABASE_BUSY_TIMEOUT_SECONDS).",
            f"Try again when that process is done.{resume}",
        )
    if "full" in text or "no space" in text:
        return (
            "The disk that holds the database is full; nothing more could be written.",
            f"Free some space.{resume}",
        )
    if "readonly" in text or "read-only" in text or "permission" in text:
        return (
            "The database cannot be written (the file or its folder is read-only).",
            "Check the permissions of SEGPORT_HOME (or of the database SEGPORT_DATABASE_URL names).",
        )
    if "connect" in text or "refused" in text or "timeout" in text or "could not translate host" in text:
        return (
            "The database cannot be reached.",
            "Check that it is running and that SEGPORT_DATABASE_URL points at it.",
        )
    report = write_report(exc, home)
    return (
        f"The database refused an operation ({type(original).__name__}).",
        f"The full report is in {report}.{resume}",
    )


def write_report(exc: BaseException, home: Path | None = None) -> Path:
    """Write the traceback to a file in the error log folder and return its path: the `errors` folder of the
    settings' home when they were read, else of SEGPORT_HOME or ~/.segport (the settings may be what failed)."""
    folder = (home or Path(os.environ.get("SEGPORT_HOME") or Path.home() / ".segport")) / "errors"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        folder = Path(os.environ.get("TMPDIR", "/tmp"))  # noqa: S108 - only when the data folder is unusable
    path = folder / f"segport-error-{datetime.now(UTC):%Y%m%dT%H%M%S}-{os.getpid()}.txt"
    path.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
    path.chmod(0o600)
    return path
