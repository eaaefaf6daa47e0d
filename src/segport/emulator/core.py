"""The emulator: one object that answers V3 API, OAuth and inspection requests over shared in-memory state.

Every request goes through `handle`, under one lock: the fault schedule is consulted, the bearer token
checked, the per-key rate limits applied (4/s and 10,000/day; 1/s on the token endpoint), then the handler
runs. The same object is served in process through an httpx transport and on a port through ASGI.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from segport.clock import Clock, SystemClock
from segport.emulator import custom_fields, inspection, oauth_server, v3
from segport.emulator.authorization import Authorization
from segport.emulator.faults import ACTIVITY_EFFECTS, Fault, FaultSchedule
from segport.emulator.messages import Request, Response, api_error, json_response, single_error
from segport.emulator.settings import EmulatorSettings
from segport.emulator.world import World

MAX_LOGGED_REQUESTS = 20_000
ROUTE_MODULES = (v3, custom_fields)  # importing them registers their handlers in v3.ROUTES


@dataclass(frozen=True)
class LoggedRequest:
    number: int
    at: str
    method: str
    path: str
    operation: str
    status: int
    outcome: str  # "" or the transport fault: drop, timeout


class SlidingWindow:
    """At most `limit` events in any `seconds`-long window."""

    def __init__(self, limit: int, seconds: float = 1.0) -> None:
        self.limit = limit
        self.seconds = seconds
        self._events: deque[float] = deque()

    def admit(self, now: float, *, count_refusal: bool = False) -> bool:
        """Whether an event at `now` is allowed; `count_refusal`: a refused one takes a place in the window too, so a
        caller that keeps asking keeps itself out."""
        while self._events and now - self._events[0] >= self.seconds:
            self._events.popleft()
        if len(self._events) >= self.limit:
            if count_refusal:
                self._events.append(now)
            return False
        self._events.append(now)
        return True


class Emulator:
    def __init__(
        self,
        settings: EmulatorSettings | None = None,
        *,
        clock: Clock | None = None,
        faults: list[str] | None = None,
        state_file: Path | None = None,
    ) -> None:
        self.settings = settings or EmulatorSettings()
        self.clock = clock or SystemClock()
        self.faults = FaultSchedule()
        if faults:
            self.faults.add(*faults)
        self._lock = threading.RLock()
        self.state_file = state_file
        self.reset()
        if state_file is not None and state_file.exists():
            from segport.emulator.persistence import load_state

            load_state(self, state_file)

    def reset(self) -> None:
        """Forget every contact, list, activity, token and counter (the fault schedule stays)."""
        with self._lock:
            s = self.settings
            self.world = World(
                self.clock,
                max_lists=s.max_lists,
                max_lists_per_contact=s.max_lists_per_contact,
                contacts_per_second=s.contacts_per_second,
                activity_start_delay=s.activity_start_delay,
            )
            self.authorization = Authorization(s, self.clock)
            self.log: deque[LoggedRequest] = deque(maxlen=MAX_LOGGED_REQUESTS)
            self.counts: Counter[tuple[str, int]] = Counter()
            self._request_number = 0
            self._per_second: dict[str, SlidingWindow] = {}
            self._per_day: dict[tuple[str, str], int] = {}
            self._token_window = SlidingWindow(s.token_requests_per_second or 1)
            self.dirty = False

    # -- the one entry point -------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        with self._lock:
            self.world.advance()
            if request.path.startswith(inspection.PREFIX):
                return inspection.handle(self, request)
            self._request_number += 1
            operation, response = self._dispatch(request)
            status = 0 if response.transport_fault else response.status
            self.counts[(operation, status)] += 1
            self.log.append(
                LoggedRequest(
                    self._request_number,
                    self.clock.now().isoformat(),
                    request.method,
                    request.path,
                    operation,
                    status,
                    response.transport_fault,
                )
            )
            if request.method != "GET":
                self.dirty = True
            if not response.transport_fault:
                # Every HTTP server with a clock sends one (RFC 9110); segport reads the account's time from it.
                response.headers = {"date": format_datetime(self.clock.now(), usegmt=True), **response.headers}
            return response

    def _dispatch(self, request: Request) -> tuple[str, Response]:
        if request.path.startswith(oauth_server.AUTH_PREFIX):
            return self._dispatch_oauth(request)
        matched = v3.match(request.method, request.path)
        if matched is None:
            if v3.path_exists(request.path):
                return "unknown", api_error(405, "method_not_allowed", "Unsupported method used.")
            return "unknown", api_error(404, "not_found", f"No resource at {request.path}.")
        operation, handler, params = matched
        fault = self.faults.for_request(operation, is_api=True)
        if fault is not None and fault.effect == "drop":
            return operation, Response(0, transport_fault="drop")
        bearer = self._authenticate(request)
        if bearer is None:
            return operation, v3.unauthorized()
        client_id, scopes = bearer
        if v3.SCOPES[operation] not in scopes:
            return operation, v3.forbidden(v3.SCOPES[operation])
        # A scheduled answer is what request N gets, whatever the rate limiter would have said.
        if fault is not None and fault.effect not in ("revoke", "revoke-grant", "drop-after", "timeout"):
            return operation, self._fault_response(fault)
        limited = self._rate_limit(client_id)
        if limited is not None:
            return operation, limited
        try:
            response = handler(self, request, params)
        except v3.BadBody as exc:
            response = api_error(400, exc.key, exc.message)
        if fault is not None:
            if fault.effect == "revoke":
                self.authorization.revoke_access_tokens()
            elif fault.effect == "revoke-grant":
                self.authorization.revoke_grants()
            elif fault.effect == "drop-after":
                response = Response(0, transport_fault="drop")
            elif fault.effect == "timeout":
                response = Response(0, transport_fault="timeout")
        return operation, response

    def _dispatch_oauth(self, request: Request) -> tuple[str, Response]:
        operation = "token" if request.path.endswith("/token") else "authorize"
        if operation == "token":
            fault = self.faults.for_request("token", is_api=False)
            if fault is not None:
                if fault.effect in ("drop", "timeout"):
                    return operation, Response(0, transport_fault=fault.effect)
                return operation, self._fault_response(fault)
            if self.settings.token_requests_per_second and not self._token_window.admit(
                self.clock.monotonic(), count_refusal=self.settings.token_refusals_count
            ):
                return operation, json_response(
                    429,
                    {
                        "errorCode": "E0000047",
                        "errorSummary": "API call exceeded rate limit due to too many requests.",
                    },
                )
        response = oauth_server.handle(self, request)
        if response is None:
            return operation, api_error(404, "not_found", f"No resource at {request.path}.")
        return operation, response

    def _authenticate(self, request: Request) -> tuple[str, frozenset[str]] | None:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            return None
        return self.authorization.verify_access_token(header[7:].strip())

    def _rate_limit(self, client_id: str) -> Response | None:
        s = self.settings
        if s.requests_per_day is not None:
            key = (client_id, self.clock.now().date().isoformat())
            if self._per_day.get(key, 0) >= s.requests_per_day:
                return single_error(429, "quota_exceeded", "Limit Exceeded")
        if s.requests_per_second is not None:
            window = self._per_second.setdefault(client_id, SlidingWindow(s.requests_per_second))
            if not window.admit(self.clock.monotonic()):
                return single_error(429, "throttled", "Too Many Requests")
        if s.requests_per_day is not None:
            self._per_day[key] = self._per_day.get(key, 0) + 1
        return None

    @staticmethod
    def _fault_response(fault: Fault) -> Response:
        if fault.effect == "throttled":
            return single_error(429, "throttled", "Too Many Requests")
        if fault.effect == "quota":
            return single_error(429, "quota_exceeded", "Limit Exceeded")
        if fault.effect == "queue-full":
            return api_error(
                429,
                "too_many_requests",
                "Too many requests. You exceeded 1,000 queued activities for this user account.",
            )
        status = int(fault.effect)
        if status == 401:
            return v3.unauthorized()
        messages = {
            500: "There was a problem with our internal service.",
            503: "Our internal service is temporarily unavailable.",
        }
        return api_error(
            status,
            "server.error" if status >= 500 else "fault",
            messages.get(status, f"Emulator fault {fault}."),
        )

    def activity_fault(self) -> str | None:
        """How the activity being created must end, when the fault schedule says so."""
        fault = self.faults.for_new_activity()
        return fault.effect if fault is not None and fault.effect in ACTIVITY_EFFECTS else None

    # -- Python inspection API (the same facts as /_emulator/...) ----------------------------------------

    def members(self, list_id: str) -> list[str]:
        """Lower-case emails of the list's members, in the order they joined."""
        with self._lock:
            self.world.advance()
            return list(self.world.lists[list_id].members)

    def contact(self, email: str) -> dict[str, Any] | None:
        with self._lock:
            found = self.world.contacts.get(email.strip().lower())
            if found is None:
                return None
            # The properties imports set, as sent (job_title, cf:NAME...): what the tests read back.
            return {**found.public(include_lists=True), "properties": dict(found.properties or {})}

    def unsubscribe(self, email: str) -> bool:
        with self._lock:
            self.dirty = True
            return self.world.unsubscribe(email) is not None

    def block(self, *emails: str, correctable: bool = False) -> None:
        """Make imports refuse these addresses, as Constant Contact refuses some: counted as errors, or (with
        `correctable`) as correctable errors, the way the service counts an address it finds malformed."""
        with self._lock:
            self.dirty = True
            target = self.world.malformed if correctable else self.world.blocked
            target.update(email.strip().lower() for email in emails)

    def create_list(self, name: str) -> str:
        with self._lock:
            self.dirty = True
            return self.world.create_list(name).list_id

    def request_count(self, operation: str | None = None, status: int | None = None) -> int:
        with self._lock:
            return sum(
                count
                for (op, code), count in self.counts.items()
                if (operation is None or op == operation) and (status is None or code == status)
            )

    def stats(self) -> dict[str, Any]:
        with self._lock:
            by_operation: dict[str, dict[str, int]] = {}
            for (operation, status), count in sorted(self.counts.items()):
                by_operation.setdefault(operation, {})[str(status)] = count
            return {
                "requests": self._request_number,
                "by_operation": by_operation,
                "throttled": self.request_count(status=429),
                "contacts": len(self.world.contacts),
                "lists": len(self.world.lists),
                "activities": len(self.world.activities),
                "queued_activities": self.world.queued_count(),
            }
