"""Fixtures shared by every layer. Every httpx client that talks to an emulator goes through the contract check."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from segport.clock import ManualClock
from segport.emulator import Emulator, EmulatorSettings, EmulatorTransport
from tests.support.contract import Contract, ContractTransport
from tests.support.harness import Harness, connect

BASE_URL = "http://cc.emulator.test"


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
