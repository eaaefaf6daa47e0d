"""The export's list as the account has it when a run starts: there, and how many it holds.

A list deleted in Constant Contact after the export was saved left every later run "Successful" with nothing to
send (each member unchanged since it was sent to a list that no longer exists), and a mirror run failed on a
404 in the middle. A new run asks first (one request, whose count the run reuses) and ends Failure saying so.
"""

from __future__ import annotations

from segport.errors import NotFound
from segport.exports.context import RunContext
from segport.runs.status import Status

GONE_FIX = (
    "Choose another list for the export (its next run then sends every member there), or create the list again "
    "in Constant Contact and choose it."
)


def size_now(ctx: RunContext) -> int | None:
    """The list's member count; None when the list is gone, and the run has ended Failure saying so."""
    export = ctx.export
    try:
        found = ctx.client.get_list(export.list_id)
    except NotFound:
        found = None
    if found is not None and found.deleted_at is None:
        return found.membership_count or 0
    named = f"{export.list_name!r} ({export.list_id})" if export.list_name else export.list_id
    ctx.record.finish(
        Status.FAILURE,
        f"The list {named} is no longer in the Constant Contact account: it was deleted there. Nothing was sent. "
        f"{GONE_FIX}",
        "error",
    )
    return None
