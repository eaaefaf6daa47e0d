"""The REST API's own answers (those the CLI does not print as --json): every route declares one, so the
OpenAPI document describes what comes back and the fuzz test checks each answer against it. The shapes the
CLI shares are in segport/outputs.py.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from segport.outputs import Output, Row, Time


class Status(Output):
    status: str = Field(description="ok / ready, or what is wrong.")


class Me(Output):
    name: str
    role: str


class IssuedToken(Output):
    id: int
    user: str
    label: str
    token: str = Field(description="The token itself: shown in this answer only, never again.")


class RefreshQueued(Output):
    refresh_id: int
    joined: bool = Field(description="True: a refresh was already queued or working; this is that one.")


class ImportedProfiles(Output):
    rows: int
    key: str
    fields: list[str]


class Preview(Output):
    columns: list[str]
    rows: list[list[Any]] = Field(description="Each member's values, in the order of `columns`.")


class Terms(Output):
    text: str


class SignInStarted(Output):
    authorize_url: str = Field(description="Open it in a browser; Constant Contact comes back to /oauth/callback.")
    expires_at: Time


class CustomField(Output):
    name: str
    label: str
    type: str
    target: str = Field(description="What an export's field mapping names it: cf:NAME.")


class RowsPage(Output):
    rows: list[Row]
    total: int = Field(description="Rows that match the search and reason.")
    reasons: dict[str, int] = Field(description="Every reason of the run, with its count.")
    offset: int
    limit: int
    next_offset: int | None


class Canceled(Output):
    run_id: int
    outcome: str = Field(description="canceled (it was queued), or stopping (at its next batch).")


class TestSent(Output):
    delivered: bool
    problem: str | None


CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "CSV text, header first."}
}
