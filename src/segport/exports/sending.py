"""Sending batches from two more threads, so the next batch is read and built while this one uploads.

Each batch goes through two stages, strictly in order:

1. prepare: its members (with whether each was on the list before) are written to `run_sent` and the batch is
   recorded `prepared`, in one fenced transaction, BEFORE it is sent. A process that dies after sending
   therefore always leaves a record of what may have reached Constant Contact.
2. send: the import is posted, and the checkpoint (activity, counters, rows not sent, resume position) is
   written in one fenced transaction.

The reading thread hands each finished batch over with the counts and the rows not sent as they stood at its
end, so a checkpoint always describes a prefix of the member stream. At most one batch waits before each
stage, which bounds memory.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from segport import failpoints
from segport.constant_contact.batching import ImportBatch
from segport.errors import ConstantContactError
from segport.exports import sync
from segport.exports.context import RunContext
from segport.runs.record import LeaseLost


@dataclass(frozen=True)
class Checkpoint:
    number: int | None  # the batch's number, None for a checkpoint of progress only (rows not sent)
    batch: ImportBatch | None
    stream_end: int
    counts: dict[str, int]
    rows: list[dict[str, Any]]  # rows not sent since the previous checkpoint
    copy: Any = None  # a SELECT of further rows not sent, copied in the checkpoint's transaction
    members: list[tuple[Any, ...]] = field(default_factory=list)  # the batch's run_sent rows


class _Stage:
    """One worker thread fed through a one-item queue; a failure is raised to whoever hands it the next item."""

    def __init__(self, name: str, work: Callable[[Checkpoint], None]) -> None:
        self._work = work
        self._queue: queue.Queue[Checkpoint | None] = queue.Queue(maxsize=1)
        self.failure: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def put(self, item: Checkpoint) -> None:
        while True:
            if self.failure is not None:
                raise self.failure
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        """No more items: the thread ends after the ones queued (or at once, when it failed)."""
        while self._thread.is_alive():
            try:
                self._queue.put(None, timeout=0.2)
                break
            except queue.Full:
                continue
        self._thread.join()

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self._work(item)
            except BaseException as exc:
                self.failure = exc
                return


class Pipeline:
    def __init__(self, ctx: RunContext, accepted_before: int) -> None:
        self._ctx = ctx
        self.accepted = accepted_before  # the highest batch number accepted and checkpointed
        # The batch whose sending failed, and whether an attempt may still have been applied.
        self.failed: tuple[int, bool] | None = None
        self._sender = _Stage(f"run-{ctx.run_id}-sender", self._send)
        self._preparer = _Stage(f"run-{ctx.run_id}-preparer", self._prepare)

    def hand_over(self, checkpoint: Checkpoint) -> None:
        """Queue a batch (or a progress checkpoint); raise here whatever stopped a stage."""
        self._preparer.put(checkpoint)

    def finish(self) -> None:
        """Wait until everything handed over is prepared, sent and checkpointed."""
        self._preparer.close()
        self._sender.close()
        for stage in (self._preparer, self._sender):
            if stage.failure is not None:
                raise stage.failure

    def abandon(self) -> None:
        """Stop both stages without raising (the run is failing for another reason already)."""
        self._preparer.close()
        self._sender.close()

    def _prepare(self, item: Checkpoint) -> None:
        if item.batch is not None and item.number is not None:
            record = self._ctx.record
            with record.transaction() as db:
                sync.forget_batches(db, record.run_id, [item.number])
                record.prepare_batch(
                    db,
                    item.number,
                    contacts=item.batch.count,
                    body_bytes=len(item.batch.body),
                    stream_end=item.stream_end,
                )
                sync.record_sent(db, item.members)
            failpoints.point("prepared")
        self._sender.put(item)

    def _send(self, item: Checkpoint) -> None:
        ctx = self._ctx
        activity = None
        if item.batch is not None and item.number is not None:
            failpoints.point("sending")
            # Checked just before the batch leaves: a worker that was paused past its lease (and whose run another
            # worker now holds) must not send it too. The check reads the lease (the preparing stage's fenced write
            # has usually just renewed it), so it does not queue behind the next batch's preparation.
            if ctx.control.lost or not ctx.record.ensure_held():
                raise LeaseLost()
            try:
                activity = ctx.client.import_contacts_json(item.batch)
            except ConstantContactError as error:
                self.failed = (item.number, error.maybe_applied)
                raise
            failpoints.point("sent")
        with ctx.record.transaction() as db:
            if activity is not None and item.number is not None:
                ctx.record.accept_batch(db, item.number, activity_id=activity.activity_id, state=activity.state)
            ctx.record.add_rows(db, item.rows)
            if item.copy is not None:
                ctx.record.copy_rows(db, item.copy)
            ctx.record.report(db, stream_position=item.stream_end, **item.counts)
        if item.number is not None:
            self.accepted = item.number
            failpoints.point("checkpointed")
