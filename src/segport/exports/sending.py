"""Sending batches from a second thread, so the next batch is read and built while this one uploads.

Batches are sent and checkpointed strictly in order by one sender thread; the reading thread hands over
each finished batch with the counts and the not-sent rows as they stood at its end, so a checkpoint always
describes a prefix of the member stream. At most one batch waits in the hand-over, which bounds memory.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, update

from segport.constant_contact import ConstantContactClient
from segport.constant_contact.batching import ImportBatch
from segport.store import Store
from segport.store.tables import run_batches, run_rows, runs


@dataclass(frozen=True)
class Checkpoint:
    batch: ImportBatch | None  # None: only progress (rows not sent) to record
    stream_end: int
    counts: dict[str, int]
    rows: list[dict[str, Any]]
    copy: Any = None  # an INSERT ... SELECT of further rows not sent, run in the checkpoint's transaction


class BatchSender:
    def __init__(self, store: Store, client: ConstantContactClient, run_id: int, batches_before: int) -> None:
        self._store = store
        self._client = client
        self._run_id = run_id
        self.batches = batches_before
        self._queue: queue.Queue[Checkpoint | None] = queue.Queue(maxsize=1)
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name=f"run-{run_id}-sender", daemon=True)
        self._thread.start()

    def hand_over(self, checkpoint: Checkpoint) -> None:
        """Queue a batch (or a progress checkpoint); re-raise here whatever stopped the sender."""
        while True:
            self._raise_failure()
            try:
                self._queue.put(checkpoint, timeout=0.2)
                return
            except queue.Full:
                continue

    def finish(self) -> None:
        """Wait until everything handed over is sent and checkpointed."""
        self.hand_over_end()
        self._thread.join()
        self._raise_failure()

    def hand_over_end(self) -> None:
        while self._thread.is_alive():
            try:
                self._queue.put(None, timeout=0.2)
                return
            except queue.Full:
                continue

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self._send(item)
            except BaseException as exc:
                self._failure = exc
                return

    def _send(self, item: Checkpoint) -> None:
        activity = self._client.import_contacts_json(item.batch) if item.batch is not None else None
        with self._store.begin() as db:
            if item.batch is not None and activity is not None:
                self.batches += 1
                db.execute(
                    insert(run_batches).values(
                        run_id=self._run_id,
                        number=self.batches,
                        activity_id=activity.activity_id,
                        contacts=item.batch.count,
                        body_bytes=len(item.batch.body),
                        stream_end=item.stream_end,
                        accepted_at=datetime.now(UTC),
                        state=activity.state,
                    )
                )
            if item.rows:
                db.execute(insert(run_rows), item.rows)
            if item.copy is not None:
                db.execute(item.copy)
            db.execute(
                update(runs).where(runs.c.id == self._run_id).values(stream_position=item.stream_end, **item.counts)
            )


class SentRecorder:
    """Writes each batch's members to the staging table from a third thread, so reading never waits on it.

    The rows must be in the database before the run acknowledges its batches; `finish` waits for that.
    """

    def __init__(self, write: Callable[[list[tuple[Any, ...]]], None]) -> None:
        self._write = write
        self._queue: queue.Queue[list[tuple[Any, ...]] | None] = queue.Queue(maxsize=4)
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="sent-recorder", daemon=True)
        self._thread.start()

    def record(self, rows: list[tuple[Any, ...]]) -> None:
        while True:
            if self._failure is not None:
                raise self._failure
            try:
                self._queue.put(rows, timeout=0.2)
                return
            except queue.Full:
                continue

    def finish(self) -> None:
        while self._thread.is_alive():
            try:
                self._queue.put(None, timeout=0.2)
                break
            except queue.Full:
                continue
        self._thread.join()
        if self._failure is not None:
            raise self._failure

    def _work(self) -> None:
        while True:
            rows = self._queue.get()
            if rows is None:
                return
            try:
                self._write(rows)
            except BaseException as exc:
                self._failure = exc
                return
