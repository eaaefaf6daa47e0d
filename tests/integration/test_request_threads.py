"""`segport serve` caps the threads its routes run in (SEGPORT_API_THREADS), and a route waiting on Constant
Contact does not take one of them: through an outage the pages and the API still answer."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest
from anyio import to_thread

from segport.emulator import EmulatorTransport
from segport.server.app import create_app
from segport.users import service as users
from tests.support.app import App
from tests.support.server import serving_app

WAIT = 10.0


class HeldTransport(httpx.BaseTransport):
    """The emulator, except that a request for the account's lists waits until `released` is set."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.arrived = threading.Event()
        self.released = threading.Event()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/contact_lists") and request.method == "GET":
            self.arrived.set()
            self.released.wait(WAIT * 3)
        return self.inner.handle_request(request)


@pytest.fixture
def held(app: App) -> Iterator[HeldTransport]:
    transport = HeldTransport(EmulatorTransport(app.emulator))
    yield transport
    transport.released.set()


def serve_with_one_thread(app: App, transport: HeldTransport) -> tuple[object, httpx.Client]:
    one = app.reopen(api_threads=1)
    one.connect("CC")
    served = create_app(one.settings, one.store, httpx.Client(transport=transport))

    @served.get("/_threads")
    async def threads() -> int:  # async: asks the serving event loop for its pool
        return int(to_thread.current_default_thread_limiter().total_tokens)

    users.add_user(one.store, name="ada", role="admin", actor="t")
    token = users.issue_token(one.store, name="ada", label="t", actor="t")[1]
    return served, httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=WAIT)


def test_the_serving_pool_has_the_settings_threads(app: App, held: HeldTransport) -> None:
    served, client = serve_with_one_thread(app, held)
    with serving_app(served) as base, client:
        assert client.get(f"{base}/_threads").json() == 1


def test_a_route_waiting_on_constant_contact_leaves_the_others_answering(app: App, held: HeldTransport) -> None:
    served, client = serve_with_one_thread(app, held)
    with serving_app(served) as base, client:
        answers: list[httpx.Response] = []
        waiting = threading.Thread(target=lambda: answers.append(client.get(f"{base}/api/connections/CC/lists")))
        waiting.start()
        try:
            assert held.arrived.wait(WAIT), "the lists request never reached Constant Contact"
            # The one capped thread is free: the list of runs and a second route of the same waiting kind answer
            # while the first still waits on Constant Contact.
            assert client.get(f"{base}/api/runs").status_code == 200
            assert client.get(f"{base}/api/me").json()["name"] == "ada"
            assert not answers
        finally:
            held.released.set()
            waiting.join(WAIT)
        assert answers and answers[0].status_code == 200, answers and answers[0].text
