"""The Constant Contact V3 client: every request segport sends leaves through `ConstantContactClient`.

One seam for the network: the client takes an `httpx.Client`. Production hands it a real one; tests hand it
one whose transport is the emulator, in process. Each request asks the rate budget for a slot, and every
answer other than success is decided by the table in `responses.py`.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin

import httpx
import orjson

from segport.clock import Clock, SystemClock, next_utc_midnight
from segport.constant_contact.batching import ImportBatch
from segport.constant_contact.budget import RequestBudget
from segport.constant_contact.models import (
    MAX_LIST_IDS,
    AccountSummary,
    Activity,
    ContactList,
    CustomField,
    OptOuts,
)
from segport.constant_contact.responses import Action, parse_error_body, rule_for
from segport.constant_contact.retry import OUTAGE, THROTTLED, RetryPolicy
from segport.errors import (
    ActivityTimedOut,
    BadRequest,
    Conflict,
    ConstantContactError,
    QuotaExceeded,
    TransientError,
    UnexpectedResponse,
)
from segport.wording import sentence

# Connecting is quick or broken; a 4 MB upload on a slow link is not.
logger = logging.getLogger(__name__)
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=120.0, pool=30.0)

# Below this many emails, one `GET /contacts?email=` each is cheaper in requests than an export activity
# (which costs a POST, one or more polls and a download).
PER_EMAIL_LOOKUP_LIMIT = 3
# Above this many opt-outs since the last read, reading every one through an export activity (3 or 4 requests)
# is cheaper than a page of `GET /contacts` per 500.
RECENT_OPT_OUTS_PAGED_UP_TO = 2_000
# The address column of a contact export: the documented field name, or the heading the product's own files use.
EMAIL_COLUMNS = ("email_address", "email")


class ConstantContactClient:
    def __init__(
        self,
        http: httpx.Client,
        *,
        api_base: str,
        auth: httpx.Auth | None,
        budget: RequestBudget,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        clock: Clock | None = None,
        on_answer: Callable[[str, str], None] | None = None,
        poll_seconds: float = 1.0,
        activity_wait_seconds: float = 3600.0,
    ) -> None:
        self._http = http
        self._poll_seconds = poll_seconds
        self._activity_wait_seconds = activity_wait_seconds
        # Told (operation, HTTP status or "unreachable") after every attempt: the metrics count them.
        self._on_answer = on_answer or (lambda _operation, _status: None)
        self._api_base = api_base.rstrip("/") + "/"
        self._auth = auth
        self._budget = budget
        self._clock = clock or SystemClock()
        self._retry = retry or RetryPolicy(clock=self._clock)
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"ConstantContactClient(api_base={self._api_base!r})"

    # -- account and lists -------------------------------------------------------------------------------

    def account_summary(self) -> AccountSummary:
        response = self._request("getAccountById", "GET", "account/summary", replay_safe=True)
        return AccountSummary.model_validate_json(response.content)

    def iter_lists(self, *, name: str | None = None, page_size: int = 500) -> Iterator[ContactList]:
        """Every contact list in the account (following `_links.next`), optionally only the one named `name`."""
        params: dict[str, Any] = {"limit": page_size, "include_membership_count": "all"}
        if name is not None:
            params["name"] = name
        for item in self._pages("getLists", "contact_lists", params, "lists"):
            yield ContactList.model_validate(item)

    def find_list_by_name(self, name: str) -> ContactList | None:
        for contact_list in self.iter_lists(name=name):
            if contact_list.name == name:
                return contact_list
        return None

    def get_list(self, list_id: str) -> ContactList:
        response = self._request(
            "getList",
            "GET",
            f"contact_lists/{list_id}",
            params={"include_membership_count": "all"},
            replay_safe=True,
        )
        return ContactList.model_validate_json(response.content)

    def create_list(self, name: str, *, favorite: bool = False) -> ContactList:
        """Create a list; a name already taken raises `Conflict` (list names are unique per account)."""
        try:
            response = self._request(
                "createList",
                "POST",
                "contact_lists",
                json_body={"name": name, "favorite": favorite},
                replay_safe=False,
            )
        except Conflict as exc:
            exc.hint = f"A list named {name!r} already exists; use its list ID or choose another name."
            raise
        return ContactList.model_validate_json(response.content)

    def custom_fields(self) -> list[CustomField]:
        """Every custom field of the account (at most 100), following `_links.next`."""
        pages = self._pages("getCustomFields", "contact_custom_fields", {"limit": 100}, "custom_fields")
        return [CustomField.model_validate(item) for item in pages]

    def create_custom_field(self, label: str) -> CustomField:
        """A text custom field; its `name` (label with underscores for blanks) is what imports use."""
        try:
            response = self._request(
                "postCustomFields",
                "POST",
                "contact_custom_fields",
                json_body={"label": label, "type": "string"},
                replay_safe=False,
            )
        except Conflict as exc:
            exc.hint = f"The account already has a custom field {label!r}."
            raise
        return CustomField.model_validate_json(response.content)

    # -- bulk activities ---------------------------------------------------------------------------------

    def import_contacts_json(self, batch: ImportBatch | bytes) -> Activity:
        """Submit a prepared `contacts_json_import` body (see batching.py); returns the queued activity.

        Imports are upserts, so sending the same body twice ends in the same state: safe to retry.
        """
        body = batch.body if isinstance(batch, ImportBatch) else batch
        response = self._request(
            "bulkImportContactsJSON",
            "POST",
            "activities/contacts_json_import",
            content=body,
            replay_safe=True,
        )
        return Activity.model_validate_json(response.content)

    def import_contacts_csv(
        self, csv_content: bytes, list_ids: Sequence[str], *, file_name: str = "contacts.csv"
    ) -> Activity:
        """Submit a CSV (email, first_name, last_name columns) through `contacts_file_import`.

        No Content-Type is set by hand: httpx writes the multipart header with its boundary, as the spec asks.
        """
        _check_list_ids(list_ids)
        response = self._request(
            "contactsCSVImport",
            "POST",
            "activities/contacts_file_import",
            files={"file": (file_name, csv_content, "text/csv")},
            data={"list_ids": ",".join(list_ids)},
            replay_safe=True,
        )
        return Activity.model_validate_json(response.content)

    def remove_members_of_list(self, source_list_id: str, list_ids: Sequence[str]) -> Activity:
        """Take every member of `source_list_id` off `list_ids`, in ONE request whatever their number."""
        _check_list_ids(list_ids)
        response = self._request(
            "postListRemoveContact",
            "POST",
            "activities/remove_list_memberships",
            json_body={"source": {"list_ids": [source_list_id]}, "list_ids": list(list_ids)},
            replay_safe=True,
        )
        return Activity.model_validate_json(response.content)

    def delete_list(self, list_id: str) -> Activity:
        """Delete a list (an activity); its contacts stay in the account."""
        response = self._request("deleteListActivity", "DELETE", f"contact_lists/{list_id}", replay_safe=True)
        return Activity.model_validate_json(response.content)

    def get_activity(self, activity_id: str) -> Activity:
        response = self._request("getActivity", "GET", f"activities/{activity_id}", replay_safe=True)
        return Activity.model_validate_json(response.content)

    def iter_activities(self, *, page_size: int = 500) -> Iterator[Activity]:
        """The account's bulk activities of the last 10 days, newest first (following `_links.next`)."""
        for item in self._pages("getActivityStatusCollection", "activities", {"limit": page_size}, "activities"):
            yield Activity.model_validate(item)

    def wait_for_activities(
        self,
        activity_ids: Iterable[str],
        *,
        timeout_seconds: float | None = None,
        first_interval: float | None = None,
        max_interval: float | None = None,
        max_list_pages: int = 3,
        list_page_size: int = 500,
    ) -> dict[str, Activity]:
        """Poll until every activity is completed, failed, cancelled or timed out; raise ActivityTimedOut after that.

        With several activities pending, one page of `GET /activities` (500 a page, newest first) answers for
        all of them; only those not on the first few pages are asked for one by one.
        """
        pending = list(dict.fromkeys(activity_ids))
        done: dict[str, Activity] = {}
        started = self._clock.monotonic()
        interval = self._poll_seconds if first_interval is None else first_interval
        timeout_seconds = self._activity_wait_seconds if timeout_seconds is None else timeout_seconds
        # Polls double their pause up to 15 s (or 16 times the first pause, when that is shorter).
        ceiling = min(15.0, interval * 16) if max_interval is None else max_interval
        while True:
            seen = self._poll(pending, max_list_pages * list_page_size, list_page_size) if len(pending) > 1 else {}
            for activity_id in pending:
                if activity_id not in seen:
                    seen[activity_id] = self.get_activity(activity_id)
            done.update({key: activity for key, activity in seen.items() if activity.finished})
            pending = [activity_id for activity_id in pending if activity_id not in done]
            if not pending:
                return done
            if self._clock.monotonic() - started + interval > timeout_seconds:
                raise ActivityTimedOut(
                    f"{len(pending)} Constant Contact activities had not finished after {timeout_seconds:.0f} s "
                    f"(first: {pending[0]}).",
                    operation="getActivity",
                )
            self._clock.sleep(interval)
            interval = min(interval * 2, ceiling)

    def _poll(self, pending: list[str], max_items: int, page_size: int) -> dict[str, Activity]:
        wanted = set(pending)
        found: dict[str, Activity] = {}
        for number, activity in enumerate(self.iter_activities(page_size=page_size), start=1):
            if activity.activity_id in wanted:
                found[activity.activity_id] = activity
                if len(found) == len(wanted):
                    break
            if number >= max_items:
                break
        return found

    def export_contacts(
        self, *, fields: Sequence[str], list_ids: Sequence[str] | None = None, status: str | None = None
    ) -> Activity:
        """Queue a CSV export of the account's contacts (of `list_ids` only, with `status` only, when given)."""
        body: dict[str, Any] = {"fields": list(fields)}
        if list_ids is not None:
            _check_list_ids(list_ids)
            body["list_ids"] = list(list_ids)
        if status is not None:
            body["status"] = status
        response = self._request(
            "postContactsExport", "POST", "activities/contact_exports", json_body=body, replay_safe=True
        )
        return Activity.model_validate_json(response.content)

    def download_contact_export(self, results_href: str) -> tuple[list[str], Iterator[dict[str, str]]]:
        """The column names and the rows of a finished export's CSV file, keyed by lower-case column name."""
        response = self._request("getContactsExport", "GET", results_href, replay_safe=True, accept="text/csv")
        reader = csv.DictReader(io.StringIO(response.content.decode("utf-8-sig")))
        columns = [_column_key(name) for name in reader.fieldnames or []]
        rows = ({_column_key(key): value for key, value in row.items() if key is not None} for row in reader)
        return columns, rows

    def exported_emails(self, *, list_ids: Sequence[str] | None = None, status: str | None = None) -> Iterator[str]:
        """The lower-case addresses of an export of `email_address` only (a documented field), of the contacts
        on `list_ids` and/or with `status`. An answer without an address column is an error, never an empty set."""
        columns, rows, _ = self._exported(["email_address"], list_ids=list_ids, status=status)
        column = _email_column(columns)
        for row in rows:
            email = (row.get(column) or "").strip().lower()
            if email:
                yield email

    def emails_on_list(self, list_id: str, emails: Collection[str] | None = None) -> set[str]:
        """Which addresses are on the list now (of `emails`, when given): a few looked up one by one with
        `GET /contacts?email=` and their list memberships, more through one export of the list."""
        wanted = {email.strip().lower() for email in emails} if emails is not None else None
        if wanted is not None and len(wanted) <= PER_EMAIL_LOOKUP_LIMIT:
            return {email for email in wanted if self._on_list(email, list_id)}
        return {email for email in self.exported_emails(list_ids=[list_id]) if wanted is None or email in wanted}

    def unsubscribed_emails(self) -> set[str]:
        """Every unsubscribed address of the account (see `opt_outs`)."""
        return self.opt_outs().emails

    def opt_outs(self, after: datetime | None = None) -> OptOuts:
        """The account's unsubscribed addresses: every one (`after` None), or those that unsubscribed after
        `after`, from `GET /contacts?status=unsubscribed&optout_after=` (one request per 500, usually one).

        Every one: first from one export activity filtered by status (3 or 4 requests): the documentation does
        not list the filter's values, so the answer is checked, and each row's `email_permission` must say
        unsubscribed. If it does not (the filter was ignored, or the column is filled otherwise), from
        `GET /contacts?status=unsubscribed`, which is documented but takes a request per 500."""
        asked = self._clock.now()
        if after is not None:
            try:
                return self._opt_outs_after(after, asked)
            except BadRequest as error:
                # Documented filters, but a refusal of them must not fail every rerun: the whole read still works.
                logger.warning("Constant Contact refused the opt-outs since a time (%s): reading every one.", error)
        columns, rows, created = self._exported(["email_address", "email_permission"], status="unsubscribed")
        as_of = created or asked
        column = _email_column(columns)
        found: set[str] = set()
        if "email_permission" in columns:
            for row in rows:
                if "unsubscribed" not in (row.get("email_permission") or "").lower():
                    break
                email = (row.get(column) or "").strip().lower()
                if email:
                    found.add(email)
            else:
                return OptOuts(found, as_of, whole=True)
        logger.warning(
            "Constant Contact's export filtered by status=unsubscribed held contacts that are not unsubscribed (or no "
            "email_permission column): reading GET /contacts?status=unsubscribed instead."
        )
        return OptOuts(set(self._contacts_with_status("unsubscribed")), as_of, whole=True)

    def _opt_outs_after(self, after: datetime, asked: datetime) -> OptOuts:
        params = {"status": "unsubscribed", "optout_after": _iso(after), "limit": 500, "include_count": "true"}
        found: set[str] = set()
        as_of: datetime | None = None  # set by the first page
        for response, page in self._page_answers("getContacts", "contacts", params):
            if as_of is None:
                if _more_than(page.get("contacts_count"), RECENT_OPT_OUTS_PAGED_UP_TO):
                    # A mass unsubscribe since the last read: one export activity costs fewer requests than pages.
                    return self.opt_outs()
                as_of = _server_time(response) or asked
            for contact in page.get("contacts") or []:
                address = contact.get("email_address") or {}
                # Checked, not trusted: a filter the API ignored must not count a subscribed contact as opted out.
                email = (address.get("address") or "").strip().lower()
                if email and address.get("permission_to_send") == "unsubscribed":
                    found.add(email)
        return OptOuts(found, as_of or asked, whole=False)

    def _exported(
        self, fields: list[str], *, list_ids: Sequence[str] | None = None, status: str | None = None
    ) -> tuple[list[str], Iterator[dict[str, str]], datetime | None]:
        """The columns and rows of a finished contact export, and when Constant Contact created it."""
        activity = self.export_contacts(fields=fields, list_ids=list_ids, status=status)
        finished = self.wait_for_activities([activity.activity_id])[activity.activity_id]
        if finished.state != "completed":
            raise UnexpectedResponse(
                f"Constant Contact's contact export ended {finished.state}: {'; '.join(finished.error_messages)}",
                operation="postContactsExport",
            )
        if finished.links.results is None:
            raise UnexpectedResponse(
                "Constant Contact's contact export completed without a link to its file.",
                operation="postContactsExport",
            )
        columns, rows = self.download_contact_export(finished.links.results.href)
        return columns, rows, activity.created_at or finished.created_at

    def _contacts_with_status(self, status: str) -> Iterator[str]:
        """The addresses of `GET /contacts?status=...`, page after page (500 a page, following `_links.next`)."""
        for contact in self._pages("getContacts", "contacts", {"status": status, "limit": 500}, "contacts"):
            address = ((contact.get("email_address") or {}).get("address") or "").strip().lower()
            if address:
                yield address

    def _pages(self, operation: str, url: str, params: dict[str, Any], key: str) -> Iterator[dict[str, Any]]:
        """The items under `key` of every page of a collection."""
        for _, page in self._page_answers(operation, url, params):
            yield from page.get(key) or []

    def _page_answers(
        self, operation: str, url: str, params: dict[str, Any]
    ) -> Iterator[tuple[httpx.Response, dict[str, Any]]]:
        """Every page of a collection with its answer, following `_links.next` (whose link carries the query,
        so `params` go with the first request only)."""
        first: dict[str, Any] | None = params
        while url:
            response = self._request(operation, "GET", url, params=first, replay_safe=True)
            page = orjson.loads(response.content)
            yield response, page
            url = ((page.get("_links") or {}).get("next") or {}).get("href") or ""
            first = None

    def _on_list(self, email: str, list_id: str) -> bool:
        response = self._request(
            "getContacts",
            "GET",
            "contacts",
            params={"email": email, "include": "list_memberships", "status": "all"},
            replay_safe=True,
        )
        for contact in orjson.loads(response.content).get("contacts") or []:
            address = ((contact.get("email_address") or {}).get("address") or "").strip().lower()
            if address == email and list_id in (contact.get("list_memberships") or []):
                return True
        return False

    # -- the one place requests are sent -------------------------------------------------------------------

    def _request(
        self,
        operation: str,
        method: str,
        path_or_url: str,
        *,
        replay_safe: bool,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        files: Mapping[str, Any] | None = None,
        data: Mapping[str, str] | None = None,
        accept: str = "application/json",
    ) -> httpx.Response:
        url = urljoin(self._api_base, path_or_url)
        headers = {"Accept": accept}
        if json_body is not None:
            content = orjson.dumps(json_body)
        if content is not None:
            headers["Content-Type"] = "application/json"
        state = self._retry.start(operation)
        # Whether an earlier attempt may have reached Constant Contact and taken effect: told on the error, so a
        # caller knows whether a failed import may still have happened.
        maybe_applied = False
        while True:
            try:
                self._budget.acquire(operation)
            except ConstantContactError as exc:
                exc.maybe_applied = maybe_applied
                raise
            try:
                response = self._http.request(
                    method,
                    url,
                    params=params,
                    content=content,
                    files=files,
                    data=data,
                    headers=headers,
                    auth=self._auth or httpx.USE_CLIENT_DEFAULT,
                    timeout=self._timeout,
                )
            except httpx.TransportError as exc:
                self._on_answer(operation, "unreachable")
                # Failing to connect means nothing was sent; failing later leaves the outcome unknown.
                never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
                maybe_applied = maybe_applied or not never_sent
                if not never_sent and not replay_safe:
                    raise UnexpectedResponse(
                        f"{operation}: the connection failed after the request was sent ({type(exc).__name__}); "
                        "it may or may not have taken effect.",
                        operation=operation,
                        maybe_applied=True,
                    ) from None
                if state.wait_before_next(reason=OUTAGE, detail=f"unreachable ({type(exc).__name__})"):
                    continue
                raise TransientError(
                    f"{operation}: Constant Contact could not be reached after {state.attempt} attempts "
                    f"({type(exc).__name__}).",
                    operation=operation,
                    maybe_applied=maybe_applied,
                ) from None
            except ConstantContactError as exc:  # the auth flow's refresh: the token was refused, nothing applied
                exc.maybe_applied = exc.maybe_applied or maybe_applied
                raise
            self._on_answer(operation, str(response.status_code))
            if response.is_success:
                state.succeeded()
                return response
            # A 5xx may come after the change was made; a 4xx says it was not.
            maybe_applied = maybe_applied or response.status_code >= 500
            body = parse_error_body(response.content)
            rule = rule_for(response.status_code, body.error_key)
            action = rule.action
            if action is Action.RETRY_IF_REPLAY_SAFE:
                action = Action.RETRY if replay_safe else Action.FAIL
            reason = THROTTLED if response.status_code == 429 else OUTAGE
            detail = f"{response.status_code} {body.error_key or ''}".strip()
            if action in (Action.RETRY, Action.WAIT_FOR_QUEUE) and state.wait_before_next(
                queue=action is Action.WAIT_FOR_QUEUE, reason=reason, detail=detail
            ):
                continue
            error = self._error(
                rule.error,
                operation,
                response.status_code,
                body.error_key,
                body.error_message,
                attempts=state.attempt,
                why=rule.why,
            )
            error.maybe_applied = maybe_applied
            raise error

    def _error(
        self,
        error: type[ConstantContactError],
        operation: str,
        status: int,
        error_key: str | None,
        error_message: str | None,
        *,
        attempts: int,
        why: str,
    ) -> ConstantContactError:
        detail = f"{error_key}: {error_message}" if error_key else (error_message or "no error body")
        tried = f" after {attempts} attempts" if attempts > 1 else ""
        message = sentence(f"{operation}: Constant Contact answered {status} ({why}){tried} - {detail}")
        if issubclass(error, QuotaExceeded):
            return QuotaExceeded(
                message,
                resets_at=next_utc_midnight(self._clock.now()),
                operation=operation,
                status=status,
                error_key=error_key,
                error_message=error_message,
            )
        return error(message, operation=operation, status=status, error_key=error_key, error_message=error_message)


def _check_list_ids(list_ids: Sequence[str]) -> None:
    if not 1 <= len(list_ids) <= MAX_LIST_IDS:
        raise ValueError(f"Constant Contact takes 1 to {MAX_LIST_IDS} list ids per request, not {len(list_ids)}")


def _iso(moment: datetime) -> str:
    """ISO-8601 in UTC with milliseconds and a Z, the form the spec's examples use."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _more_than(count: object, limit: int) -> bool:
    """Whether a collection's `*_count` (when the answer has one) is above `limit`."""
    return isinstance(count, int) and not isinstance(count, bool) and count > limit


def _server_time(response: httpx.Response) -> datetime | None:
    """The time of the answer by the server's clock (its Date header), or None without a readable one."""
    try:
        moment = parsedate_to_datetime(response.headers.get("date", ""))
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _email_column(columns: list[str]) -> str:
    column = next((name for name in EMAIL_COLUMNS if name in columns), None)
    if column is None:
        raise UnexpectedResponse(
            f"Constant Contact's contact export has no email address column (its columns: {columns}).",
            operation="getContactsExport",
            hint="segport reads the column email_address (or Email Address); report this answer.",
        )
    return column


def _column_key(name: str) -> str:
    # Export column headings are not documented; accept "Email Address", "email_address", "Contact ID"...
    return name.strip().lower().replace(" ", "_")
