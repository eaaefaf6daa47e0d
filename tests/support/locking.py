"""Whether a call completes while another thread holds a store lock (a read must not queue behind a writer)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

T = TypeVar("T")


def answered_while_held(hold: Callable[[], AbstractContextManager[Any]], ask: Callable[[], T]) -> tuple[bool, list[T]]:
    """Hold `hold()` in a thread, call `ask` in another meanwhile, then let go: (whether `ask` returned before
    the lock was let go, what it returned)."""
    release, taken = threading.Event(), threading.Event()

    def holding() -> None:
        with hold():
            taken.set()
            release.wait(30)

    holder = threading.Thread(target=holding, daemon=True)
    holder.start()
    assert taken.wait(10), "the lock was not taken"
    answers: list[T] = []
    asking = threading.Thread(target=lambda: answers.append(ask()), daemon=True)
    asking.start()
    asking.join(10)
    answered = not asking.is_alive()
    release.set()
    holder.join(10)
    return answered, answers
