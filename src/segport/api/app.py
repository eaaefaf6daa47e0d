"""The FastAPI application: `segport serve` mounts it beside the scheduler and the workers."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from segport import __version__
from segport.api import problems
from segport.api.routes import data, exports, system
from segport.config import Settings
from segport.store import Store


def create_app(settings: Settings, store: Store, http: httpx.Client | None = None) -> FastAPI:
    """The API over `store`; `http` is the network seam to Constant Contact (None: the real network)."""
    app = FastAPI(
        title="segport",
        version=__version__,
        description="Keep Constant Contact contact lists in step with customer segments. "
        "Every /api route needs `Authorization: Bearer <API token>` (segport users token NAME).",
    )
    app.state.settings = settings
    app.state.store = store
    app.state.http = http
    problems.install(app)
    app.include_router(system.router)
    app.include_router(data.router)
    app.include_router(exports.router)
    return app
