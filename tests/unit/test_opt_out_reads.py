"""How the client reads the opt-outs since a time: the account's clock, not this machine's, dates the read, and
an answer the filter did not narrow counts no subscribed contact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import orjson

from segport.clock import ManualClock
from segport.constant_contact import ConstantContactClient, RateBudget

API = "https://api.example.test/v3"
OURS = datetime(2020, 1, 1, tzinfo=UTC)  # this machine's clock: years behind the account's


def contact(email: str, permission: str) -> dict[str, object]:
    return {"contact_id": email, "email_address": {"address": email, "permission_to_send": permission}}


def client_answering(
    pages: list[dict[str, object]], date: str | None, seen: list[httpx.Request]
) -> ConstantContactClient:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        headers = {"date": date} if date is not None else {}
        return httpx.Response(200, content=orjson.dumps(pages[len(seen) - 1]), headers=headers)

    clock = ManualClock(OURS)
    http = httpx.Client(transport=httpx.MockTransport(answer))
    return ConstantContactClient(http, api_base=API, auth=None, budget=RateBudget(clock=clock), clock=clock)


def test_opt_outs_since_a_time_are_dated_by_the_accounts_clock_and_checked() -> None:
    seen: list[httpx.Request] = []
    pages: list[dict[str, object]] = [
        {
            "contacts": [contact("Gone@X.io", "unsubscribed"), contact("still@x.io", "implicit")],
            "_links": {"next": {"href": "/v3/contacts?cursor=abc"}},
        },
        {"contacts": [contact("later@x.io", "unsubscribed")]},
    ]
    client = client_answering(pages, "Sun, 06 Dec 2026 14:00:00 GMT", seen)
    read = client.opt_outs(datetime(2026, 12, 5, 13, 30, 0, 120000, tzinfo=UTC))
    assert read.emails == {"gone@x.io", "later@x.io"}  # the subscribed contact the answer held is not counted
    assert read.as_of == datetime(2026, 12, 6, 14, 0, tzinfo=UTC)
    assert not read.whole
    first, second = seen
    assert first.url.params["status"] == "unsubscribed"
    assert first.url.params["optout_after"] == "2026-12-05T13:30:00.120Z"
    assert second.url.params.get("cursor") == "abc" and "optout_after" not in second.url.params


def test_without_a_readable_date_the_read_is_dated_by_this_machine_when_it_began() -> None:
    for date in (None, "yesterday"):
        client = client_answering([{"contacts": []}], date, [])
        read = client.opt_outs(OURS - timedelta(days=1))
        assert read.as_of == OURS and read.emails == set()
