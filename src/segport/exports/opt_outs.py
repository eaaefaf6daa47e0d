"""Who unsubscribed in Constant Contact, read once per run.

A run needs the account's opt-outs for two things: to name the members an import could not add because they
unsubscribed, and to find the members this export put on the list who unsubscribed since (marked, so they are
not sent again until they change). The first run of an export reads them all (a contact export activity: 3 or
4 requests); later runs ask only for the opt-outs since the last complete run's read, less a day's overlap
(one `GET /contacts` per 500, usually one), and read them all again a week after the last whole read. The
time is the account's own (from its answers), never this machine's clock, so a clock that is wrong here loses
nobody.

An import that could not add someone while only the recent opt-outs are known (a profile that changed after
its contact had unsubscribed long ago) makes the run read them all: see `acknowledging.acknowledge`.
"""

from __future__ import annotations

from datetime import UTC, timedelta

from sqlalchemy import Connection, select, update

from segport.clock import as_utc
from segport.constant_contact.models import OptOuts
from segport.errors import ActivityTimedOut, RequestRejected, UnexpectedResponse
from segport.exports.context import RunContext
from segport.store.tables import exports

# Read again: opt-outs recorded late by Constant Contact, or dated by a clock a little behind the one that
# dated the last read, are still found; reading an address twice does no harm.
OVERLAP = timedelta(days=1)
# One recorded later than the overlap would be missed by every partial read: a whole read this long after the
# last bounds how long. Both times are the account's, so this machine's clock does not move it.
WHOLE_READ_EVERY = timedelta(days=7)


def read(ctx: RunContext) -> OptOuts:
    """The opt-outs since the export's last complete read; every one when there was none, or when the last
    whole read is a week older than it."""
    with ctx.store.read() as db:
        last, whole = db.execute(
            select(exports.c.opt_outs_read_at, exports.c.opt_outs_whole_read_at).where(exports.c.id == ctx.export.id)
        ).one()
    if last is None:
        return ctx.client.opt_outs(None)
    since = as_utc(last) - OVERLAP
    if whole is None or as_utc(last) - as_utc(whole) >= WHOLE_READ_EVERY:
        try:
            return ctx.client.opt_outs(None)
        except (RequestRejected, UnexpectedResponse, ActivityTimedOut) as error:
            # A safety net, not the run's need: the recent opt-outs still serve this run, and the whole read's
            # time stays, so the next run tries it again. (An outage or a lost sign-in still stops the run.)
            reason = error.message.rstrip(".")
            ctx.record.event(
                f"Reading every opt-out (a week after the last such read) failed: {reason}. The opt-outs since the "
                "last read were read instead; the next run tries again.",
                "warning",
            )
    return ctx.client.opt_outs(since)


def remember(db: Connection, export_id: int, opt_outs: OptOuts) -> None:
    """After a complete run marked the members who unsubscribed (in its transaction): the next run reads from
    here. A run that did not finish its read leaves the earlier times, so nothing between is skipped."""
    read_at = opt_outs.as_of.astimezone(UTC)
    values = {"opt_outs_read_at": read_at} | ({"opt_outs_whole_read_at": read_at} if opt_outs.whole else {})
    db.execute(update(exports).where(exports.c.id == export_id).values(**values))
