"""The export's list as the account has it when a run starts: there, and how many it holds.

A list deleted in Constant Contact after the export was saved left every later run "Successful" with nothing to
send (each member unchanged since it was sent to a list that no longer exists), and a mirror run failed on a
404 in the middle. A new run asks first (one request, whose count the run reuses) and ends Failure saying so; a
write refused in the middle of a run asks again, so a list deleted while the run was sending is named too.
"""

from __future__ import annotations

from segport.constant_contact.client import ConstantContactClient
from segport.errors import NotFound, RequestRejected, SegportError
from segport.exports.context import RunContext
from segport.exports.service import ExportView
from segport.runs.status import Status

GONE_FIX = (
    "Choose another list for the export (its next run then sends every member there), or create the list again "
    "in Constant Contact and choose it."
)


def size_now(ctx: RunContext) -> int | None:
    """The list's member count; None when the list is gone, and the run has ended Failure saying so."""
    size = size_of(ctx.client, ctx.export)
    if size is None:
        ctx.record.finish(Status.FAILURE, f"{gone(ctx.export)} Nothing was sent. {GONE_FIX}", "error")
    return size


def size_of(client: ConstantContactClient, export: ExportView) -> int | None:
    """The list's member count as the account has it; None when the list is not there (or deleted)."""
    try:
        found = client.get_list(export.list_id)
    except NotFound:
        return None
    if found.deleted_at is not None:
        return None
    return found.membership_count or 0


def gone(export: ExportView) -> str:
    named = f"{export.list_name!r} ({export.list_id})" if export.list_name else export.list_id
    return f"The list {named} is no longer in the Constant Contact account: it was deleted there."


def deleted_meanwhile(client: ConstantContactClient, export: ExportView, error: SegportError) -> SegportError | None:
    """For a write Constant Contact refused in the middle of a run: the refusal to report instead when the list
    was deleted meanwhile (Constant Contact's own says at best "Unknown list_id", and the run's usual "the next
    run sends the rest" would mislead). None when the list is there, the error is not a refusal, or asking fails."""
    if not isinstance(error, RequestRejected):
        return None
    try:
        size = size_of(client, export)
    except SegportError:
        return None
    if size is not None:
        return None
    what = f"{error.operation} was refused" if error.operation else "Constant Contact refused a request"
    return RequestRejected(f"{gone(export).removesuffix('.')} while the run was at work ({what}).", hint=GONE_FIX)
