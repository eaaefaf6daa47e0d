"""Reading what segport logs, as the JSON lines a log collector would get."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from segport.logs import JsonLines, RunId


@contextmanager
def json_lines(name: str) -> Iterator[list[dict[str, Any]]]:
    """The records logged under `name` (and below) while the block runs, each formatted by segport's JSON
    formatter with the run id filter, and parsed back."""
    lines: list[dict[str, Any]] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(self.format(record)))

    handler = Collect()
    handler.addFilter(RunId())
    handler.setFormatter(JsonLines())
    logger = logging.getLogger(name)
    saved = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
