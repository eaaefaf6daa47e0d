"""What the app holds for every request, API and pages alike: the settings, the store, and the network seam
(None in production; the emulator's transport in tests)."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import Depends, Request

from segport.config import Settings
from segport.store import Store


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def http_of(request: Request) -> httpx.Client | None:
    http: httpx.Client | None = request.app.state.http
    return http


# As dependencies they are coroutines: FastAPI runs a plain function dependency in its thread pool, and a hop
# there and back (a tenth of a millisecond, more under load) only to read an attribute is most of a small
# request's cost. They must never do I/O: they run on the event loop.
async def _store(request: Request) -> Store:
    return store_of(request)


async def _settings(request: Request) -> Settings:
    return settings_of(request)


async def _http(request: Request) -> httpx.Client | None:
    return http_of(request)


StoreDep = Annotated[Store, Depends(_store)]
SettingsDep = Annotated[Settings, Depends(_settings)]
HttpDep = Annotated[httpx.Client | None, Depends(_http)]
