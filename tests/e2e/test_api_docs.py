"""/docs in Chromium: Swagger UI renders every operation of segport's OpenAPI 3.1 document from segport's own
copy (nothing from a CDN), and a request made from it with an API token works."""

from __future__ import annotations

from typing import Any

from segport.server.app import create_app
from segport.users import service as users
from tests.e2e.browser import Fence, browser, chromium_or_skip, screenshot
from tests.support.app import App
from tests.support.server import serving_app


def test_the_docs_page_renders_every_operation_and_tries_one_with_a_token(app: App) -> None:
    chromium_or_skip()
    users.add_user(app.store, name="ada", role="admin", actor="t")
    _, token = users.issue_token(app.store, name="ada", label="docs", actor="t")
    api = create_app(app.settings, app.store, app.http)
    document = api.openapi()
    assert document["openapi"].startswith("3.1")
    operations = sum(len(methods) for methods in document["paths"].values())
    with serving_app(api) as base, browser() as chromium:
        fence = Fence(base, base)
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        context.route("**/*", fence.route)
        page: Any = context.new_page()
        fence.watch(page)
        page.goto(f"{base}/docs")
        page.wait_for_selector(".opblock", timeout=20_000)
        # Swagger UI 4 showed "Unable to render this definition" for OpenAPI 3.1 and no operation at all.
        assert "Unable to render this definition" not in page.content()
        assert page.locator(".opblock").count() == operations
        assert page.locator(".opblock-summary-path", has_text="/api/runs/{run_id}/rows").count() >= 1

        page.get_by_role("button", name="Authorize").first.click()
        page.locator(".auth-container input").first.fill(token)
        page.locator(".auth-btn-wrapper button.authorize").click()
        page.locator(".btn-done").click()

        me = page.locator(".opblock", has=page.locator(".opblock-summary-path", has_text="/api/me")).first
        me.locator(".opblock-summary").click()
        me.get_by_role("button", name="Try it out").click()
        me.get_by_role("button", name="Execute").click()
        answer = me.locator(".responses-table.live-responses-table tbody .response-col_status").first
        answer.wait_for(timeout=10_000)
        assert answer.inner_text().strip() == "200"
        assert '"ada"' in me.locator(".responses-table.live-responses-table .microlight").first.inner_text()
        screenshot(page, "api-docs")
        context.close()
    assert fence.outside == [], fence.outside  # Swagger UI's files came from segport, nothing from a CDN
    assert fence.console_errors == [], fence.console_errors
