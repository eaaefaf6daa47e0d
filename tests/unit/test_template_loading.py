"""A page's template is compiled once per process, however many requests ask for it at the same moment."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from segport.web import pages


def test_a_template_many_threads_ask_for_at_once_is_compiled_once(monkeypatch: pytest.MonkeyPatch) -> None:
    assert pages.environment.cache is not None and pages.environment.loader is not None
    pages.environment.cache.clear()
    loads: list[str] = []
    original = pages.environment.loader.get_source

    def slow_source(environment: Any, name: str) -> Any:
        loads.append(name)
        time.sleep(0.05)  # a compilation long enough for every other thread to ask meanwhile
        return original(environment, name)

    monkeypatch.setattr(pages.environment.loader, "get_source", slow_source)
    start = threading.Barrier(8)
    found: list[str | None] = []

    def ask() -> None:
        start.wait()
        found.append(pages.template_named("sign_in.html").name)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found == ["sign_in.html"] * 8
    assert loads == ["sign_in.html"]
