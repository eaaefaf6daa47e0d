"""The access log without secrets: OAuth's `code` and `state`, rules typed into the builder (which hold
customer data), tokens and passwords never reach it; the rest of each line stays as uvicorn writes it."""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

from uvicorn.config import LOGGING_CONFIG

SENSITIVE = ("code", "state", "rule", "token", "password", "access_token", "refresh_token", "error_description")
_QUERY_VALUE = re.compile(rf"(?P<key>(?:^|[?&])(?:{'|'.join(SENSITIVE)})=)[^&\s\"]*")


def redacted(text: str) -> str:
    return _QUERY_VALUE.sub(r"\g<key>…", text)


class RedactQueries(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redacted(value) if isinstance(value, str) else value for value in record.args)
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration, with the access lines passed through RedactQueries."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact"] = {"()": RedactQueries}
    config["handlers"]["access"]["filters"] = ["redact"]
    return config
