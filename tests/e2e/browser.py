"""Debian's Chromium, driven by Playwright, fenced in: any request to a host other than segport fails the test.

The emulator stands in for Constant Contact's sign-in page, so a page *navigation* to it is allowed (that is
where the wizard sends the browser); nothing else may leave segport: no script, style, font or image.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ASSETS = ("script", "stylesheet", "image", "font", "media", "manifest")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@dataclass
class Fence:
    """What the browser asked for outside segport, and what its console reported as errors."""

    segport: str
    sign_in_page: str
    outside: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def route(self, route: Any) -> None:
        request = route.request
        url = request.url
        if (
            url.startswith(self.segport + "/")
            or url.startswith("data:")
            or (url.startswith(self.sign_in_page + "/") and request.resource_type == "document")
        ):
            route.continue_()
        else:
            self.outside.append(f"{request.resource_type} {url}")
            route.abort()

    def watch(self, page: Any) -> None:
        page.on("console", lambda message: self._console(message))
        page.on("pageerror", lambda error: self.console_errors.append(f"page error: {error}"))
        page.on("response", lambda response: self._response(response))

    def _console(self, message: Any) -> None:
        # A page answered 4xx on purpose (a refused form) is logged as a failed load; _response judges those.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.console_errors.append(message.text)

    def _response(self, response: Any) -> None:
        kind = response.request.resource_type
        # A missing asset is a bug; so is any 5xx. A 4xx answer to a page or a page's read is a verdict
        # (a refused form, "no such list") that the test checks on the page itself.
        if (response.status >= 400 and kind in ASSETS) or response.status >= 500:
            self.console_errors.append(f"{response.status} for {kind} {response.url}")


def chromium_or_skip() -> str:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; .ci/run installs it)")
    return CHROMIUM if Path(CHROMIUM).exists() else str(shutil.which("chromium"))


@contextmanager
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = chromium_or_skip()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# WCAG 2.1 A and AA, as axe-core tags them; a serious or critical violation fails the page.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
FAILING_IMPACTS = ("serious", "critical")


def accessibility_problems(page: Any) -> list[str]:
    """The page's serious and critical WCAG 2.1 A/AA violations, as axe-core finds them (one line each, with the
    elements), in the page's state now."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]})
    problems = []
    for violation in results.response["violations"]:
        if violation.get("impact") in FAILING_IMPACTS:
            targets = "; ".join(", ".join(node["target"]) for node in violation["nodes"][:5])
            problems.append(f"{page.url}: {violation['id']} ({violation['impact']}): {violation['help']} — {targets}")
    return problems
