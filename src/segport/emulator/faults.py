"""A deterministic fault schedule: which requests fail, how, and which activities end badly.

Text form, one fault per string: TARGET#FIRST[-LAST]=EFFECT, counted from 1 per target.

    imports#3-5=503          the 3rd to 5th bulk imports answer 503
    requests#7=drop          the 7th API request drops the connection before it is processed
    requests#20-40=throttled the 20th to 40th API requests answer 429 throttled
    requests#10=revoke       after the 10th API request, every access token issued so far is revoked
    requests#10=revoke-grant after it, the sign-in itself is revoked too: refresh tokens stop working
    activities#2=failed      the 2nd bulk activity created ends `failed` (or timed_out, cancelled)
    token#1=503              the first token request answers 503

Targets: `requests` (every V3 request), `token`, the groups imports, removals, exports, lists, polls,
contacts, or any operationId (bulkImportContactsJSON, getActivity, ...). `activities` counts activities.
Effects: an HTTP status (400-599), drop, drop-after (processed, then dropped), timeout (processed, answer
withheld), throttled, quota, queue-full, revoke, revoke-grant, and for activities: failed, timed_out, cancelled.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass

GROUPS: dict[str, frozenset[str]] = {
    "imports": frozenset({"bulkImportContactsJSON", "contactsCSVImport"}),
    "removals": frozenset({"postListRemoveContact"}),
    "exports": frozenset({"postContactsExport", "getContactsExport"}),
    "lists": frozenset({"getLists", "getList", "createList"}),
    "polls": frozenset({"getActivity", "getActivityStatusCollection"}),
    "contacts": frozenset({"getContacts"}),
}
REQUEST_EFFECTS = frozenset(
    {"drop", "drop-after", "timeout", "throttled", "quota", "queue-full", "revoke", "revoke-grant"}
)
ACTIVITY_EFFECTS = frozenset({"failed", "timed_out", "cancelled"})
_PATTERN = re.compile(r"^\s*([A-Za-z_][\w-]*)\s*#\s*(\d+)(?:\s*-\s*(\d+))?\s*=\s*([\w-]+)\s*$")


class FaultSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class Fault:
    target: str
    first: int
    last: int
    effect: str

    @classmethod
    def parse(cls, text: str) -> Fault:
        match = _PATTERN.match(text)
        if not match:
            raise FaultSyntaxError(
                f"Cannot read the fault {text!r}: write TARGET#FIRST[-LAST]=EFFECT, e.g. imports#3-5=503."
            )
        target, first, last, effect = match.groups()
        first_n, last_n = int(first), int(last or first)
        if first_n < 1 or last_n < first_n:
            raise FaultSyntaxError(f"In {text!r} the range must count from 1 upwards, e.g. #3-5.")
        if target == "activities":
            if effect not in ACTIVITY_EFFECTS:
                raise FaultSyntaxError(f"An activity can end {sorted(ACTIVITY_EFFECTS)}, not {effect!r}.")
        elif not (effect in REQUEST_EFFECTS or (effect.isdigit() and 400 <= int(effect) <= 599)):
            raise FaultSyntaxError(
                f"Unknown effect {effect!r} in {text!r}: use an HTTP status 400-599 or one of "
                f"{', '.join(sorted(REQUEST_EFFECTS))}."
            )
        return cls(target, first_n, last_n, effect)

    def __str__(self) -> str:
        span = f"{self.first}" if self.first == self.last else f"{self.first}-{self.last}"
        return f"{self.target}#{span}={self.effect}"


class FaultSchedule:
    """Counts requests per target and says which fault, if any, applies to the one arriving now."""

    def __init__(self, faults: list[Fault] | None = None) -> None:
        self._faults = list(faults or [])
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    @property
    def faults(self) -> list[Fault]:
        return list(self._faults)

    def add(self, *specs: str | Fault) -> None:
        parsed = [spec if isinstance(spec, Fault) else Fault.parse(spec) for spec in specs]
        with self._lock:
            self._faults.extend(parsed)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self._counts.clear()

    def for_request(self, operation: str, *, is_api: bool) -> Fault | None:
        """Count this request under every target it belongs to; return the first fault that hits it."""
        targets = [operation]
        if is_api:
            targets.append("requests")
        targets.extend(group for group, members in GROUPS.items() if operation in members)
        return self._count_and_match(targets)

    def for_new_activity(self) -> Fault | None:
        return self._count_and_match(["activities"])

    def _count_and_match(self, targets: list[str]) -> Fault | None:
        with self._lock:
            for target in targets:
                self._counts[target] += 1
            for fault in self._faults:
                if fault.target in targets and fault.first <= self._counts[fault.target] <= fault.last:
                    return fault
        return None
