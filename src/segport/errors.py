"""One error taxonomy for segport. Each class is named for what the caller should do about it.

Every error carries a message for people (what went wrong) and a `hint` (how to fix it). None of them
ever holds a secret: messages are built from status codes, error keys and Constant Contact's own
error messages, never from request headers or bodies.
"""

from __future__ import annotations

from datetime import datetime


def unexpected(error: BaseException) -> str:
    """An error segport did not expect, for a run's or a refresh's page: its type and its first line (the rest,
    and the traceback, go to the server's log)."""
    line = (str(error).strip().splitlines() or [""])[0][:300]
    return f"{type(error).__name__}: {line}"


class SegportError(Exception):
    """Base class: a problem segport can explain to a person."""

    hint: str = ""
    # The input the problem is about, by its form name ("list_id"), when one is: pages mark that field.
    field: str | None = None

    def __init__(self, message: str, *, hint: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint
        if field is not None:
            self.field = field

    def __str__(self) -> str:
        if not self.hint:
            return self.message
        return f"{self.message}\n{self.hint}" if "\n" in self.message else f"{self.message} {self.hint}"


class ConfigurationError(SegportError):
    """Settings are missing or wrong: fix the configuration, then start again."""


class WarehouseUnavailable(SegportError):
    """The warehouse that holds the profiles (an external database) could not be reached, refused segport's
    sign-in, or dropped the connection: nothing segport keeps is wrong; try again once it answers."""

    hint = (
        "Check that the warehouse is running and that segport can reach it and sign in to it (if its address or "
        "password changed, connect the profiles to it again), then try again."
    )

    def __init__(self, message: str, *, answer: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.answer = answer  # the database driver's own words (its first line)


class ConstantContactError(SegportError):
    """Constant Contact (or the network in front of it) answered something other than success."""

    def __init__(
        self,
        message: str,
        *,
        operation: str = "",
        status: int | None = None,
        error_key: str | None = None,
        error_message: str | None = None,
        hint: str | None = None,
        maybe_applied: bool = False,
    ) -> None:
        super().__init__(message, hint=hint)
        self.operation = operation
        self.status = status
        self.error_key = error_key
        self.error_message = error_message
        # True when an attempt may have reached Constant Contact and taken effect before this error (a dropped
        # connection after the request left, a 5xx): a failed import may still have been applied.
        self.maybe_applied = maybe_applied


class TransientError(ConstantContactError):
    """Worth trying again later: throttling, a server or network fault that outlived the retries."""

    hint = "This is usually temporary; run again later."


class ReauthorizationRequired(ConstantContactError):
    """The connection's tokens no longer work: a person must sign in to Constant Contact again."""

    hint = "Reauthorize the connection: segport connections reauthorize NAME."


class QuotaExceeded(ConstantContactError):
    """The API key's daily request quota is used up: wait until it resets at 00:00 UTC."""

    def __init__(self, message: str, *, resets_at: datetime, **details: object) -> None:
        hint = f"The daily quota resets at {resets_at:%Y-%m-%d %H:%M} UTC; runs started after that will go on."
        super().__init__(message, hint=hint, **details)  # type: ignore[arg-type]
        self.resets_at = resets_at


class RequestRejected(ConstantContactError):
    """Constant Contact refused this request as sent: sending it again unchanged will fail again."""


class BadRequest(RequestRejected):
    """400: the body or parameters are invalid."""


class PermissionDenied(RequestRejected):
    """403: missing scope, missing user privilege, or a deactivated application."""

    hint = (
        "The signed-in Constant Contact user needs the Account Owner or Account Manager role, and the "
        "application needs the contact_data scope; reauthorize with such a user."
    )


class NotFound(RequestRejected):
    """404: the list, activity or file does not exist in the connected account."""


class Conflict(RequestRejected):
    """409: the request conflicts with what exists (for example a list with the same name)."""


class UnexpectedResponse(ConstantContactError):
    """An answer segport has no rule for, or an ambiguous answer to a write: fail loudly, never guess."""

    hint = "Nothing was retried, to avoid sending the same change twice; check the run's events."


class ActivityTimedOut(ConstantContactError):
    """A bulk activity did not reach a final state within the time segport waits for it."""

    hint = "The activity may still finish in Constant Contact; the next run checks it again."


class InvalidInput(SegportError):
    """What the user gave cannot be used as it is: the message names the problem and the fix."""


class UnknownName(SegportError):
    """No segment, connection, export or run has that name or id."""


class Refused(SegportError):
    """The action would break something that exists (e.g. removing a connection that exports use)."""


class NotAllowed(SegportError):
    """The user's role, or how a connection is shared, does not allow this."""
