"""The FastAPI application: the REST API, its OpenAPI page, and the web UI, as `segport serve` mounts them.
The one place that knows both faces."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from segport import __version__
from segport.api.guard import RequestGuard
from segport.api.routes import alerts as alert_routes
from segport.api.routes import connections as connection_routes
from segport.api.routes import data, exports, system
from segport.api.routes import runs as run_routes
from segport.api.text_guard import TextGuard
from segport.config import Settings
from segport.server import problems, threads
from segport.store import Store
from segport.web import pages
from segport.web.routes import (
    account,
    alerts,
    connections,
    export_schedules,
    oauth,
    profiles,
    runs,
    schedule,
    segments,
    users,
)
from segport.web.routes import exports as export_pages

DOCS_ASSETS = "/docs/assets"
# Swagger UI 5 (it reads OpenAPI 3.1, which FastAPI writes; the 4.x of swagger-ui-bundle could not), from the
# fastapi-offline package's copy: no CDN.
SWAGGER_UI = Path(str(files("fastapi_offline") / "static"))


def create_app(settings: Settings, store: Store, http: httpx.Client | None = None) -> FastAPI:
    """The API and the UI over `store`; `http` is the network seam to Constant Contact (None: the real network)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        threads.cap_request_threads(settings.api_threads)  # on the serving event loop, whose pool it is
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="segport",
        version=__version__,
        description="Keep Constant Contact contact lists in step with customer segments. "
        "Every /api route needs `Authorization: Bearer <API token>` (segport users token NAME).",
        docs_url=None,  # served below from segport's own copy of Swagger UI, not from a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.http = http
    problems.install(app)
    pages.install(app)
    app.mount(DOCS_ASSETS, StaticFiles(directory=SWAGGER_UI), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="segport API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        )

    app.include_router(system.router)
    app.include_router(data.router)
    app.include_router(connection_routes.router)
    app.include_router(exports.router)
    app.include_router(run_routes.router)
    app.include_router(alert_routes.router)
    for module in (
        oauth,
        account,
        alerts,
        connections,
        export_schedules,
        export_pages,
        segments,
        profiles,
        runs,
        schedule,
        users,
    ):
        app.include_router(module.router)
    # Inside the guard below (a middleware added later wraps those before): text no database keeps (a NUL, a lone
    # surrogate) is refused before a route reads it.
    app.add_middleware(TextGuard)
    # Outermost: the caller is known and the body capped before anything reads it.
    app.add_middleware(RequestGuard, settings=settings, store=store)
    problems.describe(app)
    return app
