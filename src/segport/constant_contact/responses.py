"""What every Constant Contact answer means: ONE table from (status, error_key) to an action.

The client looks every non-2xx answer up here and does what the row says. Rows are matched most specific
first: (status, error_key), then (status, any key). A status with no row is an answer segport does not
understand, and the client fails loudly rather than guessing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import orjson

from segport.errors import (
    BadRequest,
    Conflict,
    ConstantContactError,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
    ReauthorizationRequired,
    RequestRejected,
    TransientError,
    UnexpectedResponse,
)


class Action(enum.Enum):
    RETRY = "retry after a backoff with jitter"
    RETRY_IF_REPLAY_SAFE = "retry if sending the request twice cannot do harm, else fail"
    WAIT_FOR_QUEUE = "wait for queued activities to drain, then retry"
    WAIT_FOR_QUOTA = "stop until the daily quota resets at 00:00 UTC"
    REAUTHORIZE = "the tokens no longer work: a person must sign in again"
    REJECT = "the request is wrong as sent: raise a typed error, do not resend"
    FAIL = "an answer without a rule: fail loudly"


ANY_KEY = "*"


@dataclass(frozen=True)
class Rule:
    status: int
    error_key: str
    action: Action
    error: type[ConstantContactError]
    why: str


RULES: tuple[Rule, ...] = (
    Rule(400, ANY_KEY, Action.REJECT, BadRequest, "malformed JSON or a validation error"),
    # The auth flow has already refreshed once and replayed; a 401 reaching the table means the new
    # token was refused too.
    Rule(401, ANY_KEY, Action.REAUTHORIZE, ReauthorizationRequired, "access token invalid or expired"),
    Rule(403, ANY_KEY, Action.REJECT, PermissionDenied, "missing scope or privilege, or app deactivated"),
    Rule(404, ANY_KEY, Action.REJECT, NotFound, "no such list, activity or file"),
    Rule(405, ANY_KEY, Action.FAIL, UnexpectedResponse, "method not allowed: a segport defect"),
    Rule(409, ANY_KEY, Action.REJECT, Conflict, "conflicts with an existing resource"),
    Rule(415, ANY_KEY, Action.REJECT, RequestRejected, "wrong media type or file format"),
    Rule(429, "throttled", Action.RETRY, TransientError, "over 4 requests per second"),
    Rule(429, "quota_exceeded", Action.WAIT_FOR_QUOTA, QuotaExceeded, "over 10,000 requests today"),
    # Constant Contact documents no error_key for the queue cap; any other 429 is the 1,000-queued-activities
    # answer of the bulk endpoints, which clears as activities finish.
    Rule(429, ANY_KEY, Action.WAIT_FOR_QUEUE, TransientError, "1,000 activities already queued"),
    # A 500 may come after the change was made: retry only requests that are harmless to repeat.
    Rule(500, ANY_KEY, Action.RETRY_IF_REPLAY_SAFE, UnexpectedResponse, "internal error"),
    Rule(502, ANY_KEY, Action.RETRY, TransientError, "bad gateway"),
    Rule(503, ANY_KEY, Action.RETRY, TransientError, "service temporarily unavailable"),
    Rule(504, ANY_KEY, Action.RETRY, TransientError, "gateway timeout"),
)

_BY_KEY = {(rule.status, rule.error_key): rule for rule in RULES}

UNKNOWN = Rule(0, ANY_KEY, Action.FAIL, UnexpectedResponse, "no rule for this answer")


def rule_for(status: int, error_key: str | None) -> Rule:
    """The rule that decides what to do with this answer."""
    if error_key is not None and (status, error_key) in _BY_KEY:
        return _BY_KEY[(status, error_key)]
    return _BY_KEY.get((status, ANY_KEY), UNKNOWN)


@dataclass(frozen=True)
class ErrorBody:
    error_key: str | None
    error_message: str | None


def parse_error_body(content: bytes) -> ErrorBody:
    """Read an error body in any of Constant Contact's shapes: an object, an array of objects, or not JSON.

    With several errors in an array, the first keys the rule and the messages are joined.
    """
    try:
        parsed = orjson.loads(content) if content else None
    except orjson.JSONDecodeError:
        text = content[:300].decode("utf-8", "replace").strip()
        return ErrorBody(None, text or None)
    items = parsed if isinstance(parsed, list) else [parsed]
    keys: list[str] = []
    messages: list[str] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        # The API speaks error_key/error_message; the OAuth server speaks error/error_description.
        key = item.get("error_key", item.get("error"))
        message = item.get("error_message", item.get("error_description", item.get("message")))
        if isinstance(key, str):
            keys.append(key)
        if isinstance(message, str):
            messages.append(message)
    return ErrorBody(keys[0] if keys else None, "; ".join(messages) or None)
