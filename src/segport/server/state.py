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


StoreDep = Annotated[Store, Depends(store_of)]
SettingsDep = Annotated[Settings, Depends(settings_of)]
HttpDep = Annotated[httpx.Client | None, Depends(http_of)]
