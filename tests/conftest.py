"""Fixtures shared by every layer. Every httpx client that talks to an emulator goes through the contract check."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from segport.clock import ManualClock
from segport.emulator import Emulator, EmulatorSettings, EmulatorTransport
from segport.users import passwords
from tests.support.app import (
    LIVE_REQUESTS_PER_SECOND,
    POSTGRESQL_ENV,
    App,
    build_app,
    drop_own_database,
    postgresql_url,
)
from tests.support.contract import Contract, ContractTransport
from tests.support.harness import Harness, connect

BASE_URL = "http://cc.emulator.test"
# Files that keep one test process busy for minutes go out first, so they run beside the rest of the suite
# instead of after it (pytest-xdist hands out files in the order collected).
LONGEST_FIRST = ("tests/e2e/test_workers.py", "tests/e2e/test_chaos.py", "tests/e2e/test_web_ui.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    root = Path(__file__).resolve().parents[1]
    moved = [path for path in LONGEST_FIRST if not (root / path).is_file()]
    if moved:  # the order would silently stop working
        raise pytest.UsageError(f"tests/conftest.py LONGEST_FIRST names files that are not there: {moved}")

    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::")[0]
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the rest keep their order


def pytest_sessionfinish() -> None:
    """Each test process drops the PostgreSQL database it made for itself."""
    drop_own_database()


@pytest.fixture(scope="session", autouse=True)
def quick_password_hashes() -> Iterator[None]:
    """Passwords hashed at scrypt cost 2^12 in tests instead of 2^17 (0.4 s and 128 MB each on these machines,
    a few hundred times over): the same code and format. Processes that tests start keep the real cost."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "COST", 2**12)
        yield


@pytest.fixture(scope="session")
def contract() -> Contract:
    return Contract.load()


@pytest.fixture
def clock() -> ManualClock:
    """One manual clock for client and emulator: budgets and backoffs advance it instead of waiting."""
    return ManualClock()


@pytest.fixture
def emulator_settings() -> EmulatorSettings:
    return EmulatorSettings()


@pytest.fixture
def emulator(emulator_settings: EmulatorSettings, clock: ManualClock) -> Emulator:
    return Emulator(emulator_settings, clock=clock)


@pytest.fixture
def http(emulator: Emulator, contract: Contract) -> Iterator[httpx.Client]:
    transport = ContractTransport(EmulatorTransport(emulator), contract)
    with httpx.Client(transport=transport, base_url=BASE_URL) as client:
        yield client


@pytest.fixture
def harness(http: httpx.Client, clock: ManualClock) -> Harness:
    return connect(http, BASE_URL, clock)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """Store tests run on SQLite and on PostgreSQL (whose URL .ci/run sets)."""
    if request.param == "sqlite":
        return None
    url = postgresql_url()
    if url is None:
        pytest.skip(f"PostgreSQL store tests need {POSTGRESQL_ENV} (bash .ci/run sets it)")
    return url


@pytest.fixture
def live_emulator(request: pytest.FixtureRequest) -> Emulator:
    """An emulator on the real clock, as segport's own services use it (with the settings a test passes through
    `indirect` parametrization, e.g. STRICTNESS), taking LIVE_REQUESTS_PER_SECOND as segport's settings send."""
    settings = getattr(request, "param", None) or EmulatorSettings()
    return Emulator(
        dataclasses.replace(
            settings,
            requests_per_second=LIVE_REQUESTS_PER_SECOND,
            token_requests_per_second=LIVE_REQUESTS_PER_SECOND,
        )
    )


# The emulator refusing undocumented export fields as the service may, and answering them as the most lenient
# service would: segport's results must not depend on which one it meets.
STRICTNESS = pytest.mark.parametrize(
    "live_emulator",
    [EmulatorSettings(strict_exports=True), EmulatorSettings(strict_exports=False)],
    indirect=True,
    ids=["strict", "permissive"],
)


@pytest.fixture
def live_http(live_emulator: Emulator, contract: Contract) -> Iterator[httpx.Client]:
    transport = ContractTransport(EmulatorTransport(live_emulator), contract)
    with httpx.Client(transport=transport) as client:
        yield client


@pytest.fixture
def app(tmp_path: Path, database_url: str | None, live_emulator: Emulator, live_http: httpx.Client) -> Iterator[App]:
    yield from build_app(tmp_path, BASE_URL, live_emulator, live_http, database_url)
