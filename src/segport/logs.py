"""Logging for the long-running commands (serve, worker, scheduler): text for people, or JSON lines for a
log collector, each line naming the run its worker was working."""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

from segport.config import Settings

# The run this thread works on: each worker thread has its own context, so two workers never mix their ids.
_RUN: ContextVar[int | None] = ContextVar("segport_run", default=None)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@contextmanager
def working_on(run_id: int) -> Iterator[None]:
    """Every line logged in this thread while the block runs carries the run's id."""
    token = _RUN.set(run_id)
    try:
        yield
    finally:
        _RUN.reset(token)


class RunId(logging.Filter):
    """Puts the current run's id on each record (None outside a run)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.run_id = _RUN.get()
        return True


class JsonLines(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, run_id when there is one, and the
    exception's text when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        run_id = getattr(record, "run_id", None)
        if run_id is not None:
            line["run_id"] = run_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


def configure(settings: Settings) -> None:
    """The root logger for a long-running command, in the settings' format."""
    handler = logging.StreamHandler()
    handler.addFilter(RunId())
    handler.setFormatter(JsonLines() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # one line per plugin: noise


def uvicorn_config(settings: Settings, base: dict[str, Any]) -> dict[str, Any]:
    """uvicorn's logging configuration `base`, its lines in JSON too when the settings ask for JSON."""
    config = copy.deepcopy(base)
    if settings.log_format == "json":
        for formatter in config.get("formatters", {}).values():
            formatter.clear()
            formatter["()"] = JsonLines
    return config
