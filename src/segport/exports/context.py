"""Everything one run works with, typed: the export, its plan, the client, and the record it reports to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from segport.config import Settings
from segport.constant_contact import ConstantContactClient
from segport.exports.service import ExportView
from segport.runs.lease import RunControl
from segport.runs.record import RunRecord
from segport.store import Store

if TYPE_CHECKING:  # it shows its waits through RunProgress, defined here
    from segport.exports.warehouse_waits import WarehouseWaits


class RunProgress(Protocol):
    """Where a run shows its progress as it goes (the CLI's bars; nothing elsewhere)."""

    def started(self, run_id: int, members: int) -> None: ...
    def advanced(self, members_read: int, batches_sent: int) -> None: ...
    def polling(self, finished: int, total: int) -> None: ...
    def waiting(self, detail: str | None) -> None: ...


class Silent:
    def started(self, run_id: int, members: int) -> None: ...
    def advanced(self, members_read: int, batches_sent: int) -> None: ...
    def polling(self, finished: int, total: int) -> None: ...
    def waiting(self, detail: str | None) -> None: ...


@dataclass(frozen=True)
class RunContext:
    store: Store
    settings: Settings
    export: ExportView
    record: RunRecord
    control: RunControl
    client: ConstantContactClient
    progress: RunProgress
    warehouse: WarehouseWaits

    @property
    def run_id(self) -> int:
        return self.record.run_id

    @property
    def mirror(self) -> bool:
        return self.export.mode == "mirror"
